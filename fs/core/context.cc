#include "fs/core/context.h"

namespace pmemfs::core {

Status Context::Commit(store::Tx& tx, std::initializer_list<Inode*> touched) {
  if (tx.empty()) return Status::Ok();
  Status st = store->Commit(tx);
  if (!st.ok())
    for (Inode* ip : touched)
      if (ip != nullptr) DropIndexes(*ip);
  return st;
}

void Context::DropIndexes(Inode& ip) {
  if (ip.is_volatile()) return;
  ip.dir_loaded = false;
  ip.map_loaded = false;
  ip.xattrs_loaded = false;
  ip.dir.reset();
  ip.map.reset();
  ip.xattrs.reset();
}

}  // namespace pmemfs::core
