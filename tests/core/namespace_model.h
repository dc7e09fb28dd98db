// The model of the namespace that the randomized crash tests (random_crash_test,
// near_full_crash_test) generate their steps from: every name with its kind and inode, the
// xattr names of each inode, and the seeded random choices over them. Each test's Generator
// derives from it and adds its own steps; a seed gives the same choices in the same order.
#pragma once

#include <linux/falloc.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pmemfs::core::testing {

class NamespaceModel {
 protected:
  struct Node {
    char type;  // 'f' file, 'd' directory, 'l' symlink
    int id;     // hard links share it
  };

  // The modes a fallocate step picks from (punching a hole twice as often).
  static constexpr int kFallocateModes[] = {0, FALLOC_FL_KEEP_SIZE,
                                            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                            FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                            FALLOC_FL_ZERO_RANGE};

  // New names go into `home` ("": the root) or a directory of the model; now and then one is
  // `long_name` + a number, longer than a dentry's first slot.
  NamespaceModel(uint64_t seed, std::string home, std::string long_name)
      : rng_(seed), home_(std::move(home)), long_name_(std::move(long_name)) {}

  uint64_t Rand(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Rand(v.size())]; }

  std::vector<std::string> Paths(char type) const {
    std::vector<std::string> out;
    for (const auto& [p, n] : paths_)
      if (n.type == type) out.push_back(p);
    return out;
  }
  bool IsEmptyDir(const std::string& p) const {
    auto it = paths_.upper_bound(p + "/");
    return it == paths_.end() || it->first.compare(0, p.size() + 1, p + "/") != 0;
  }
  // A name no step used yet, in a random directory.
  std::string NewPath() {
    std::vector<std::string> dirs = Paths('d');
    dirs.push_back(home_);
    const std::string dir = Pick(dirs);
    std::string name = (Chance(0.2) ? long_name_ : "n") + std::to_string(next_name_++);
    return dir.empty() ? name : dir + "/" + name;
  }
  // `n` bytes of a pattern: a random letter and stride.
  std::string Bytes(size_t n) {
    std::string s(n, '\0');
    const char base = static_cast<char>('A' + Rand(26));
    const uint64_t stride = 1 + Rand(7);
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(base + (i * stride) % 29);
    return s;
  }

  // A rename of a random name: with chance `over` over an existing name of the same kind (not a
  // link of the same inode, a directory only when empty, not inside the renamed one), else (or
  // when there is none) to a new name. std::nullopt: no names yet, or the new name fell inside
  // the renamed directory's own subtree.
  std::optional<std::pair<std::string, std::string>> PickRename(double over) {
    std::vector<std::string> all;
    for (const auto& [p, n] : paths_) all.push_back(p);
    if (all.empty()) return std::nullopt;
    const std::string from = Pick(all);
    const Node node = paths_[from];
    std::string to;
    if (Chance(over)) {
      std::vector<std::string> targets;
      for (const auto& [p, n] : paths_)
        if (n.type == node.type && n.id != node.id && (n.type != 'd' || IsEmptyDir(p)) &&
            p.compare(0, from.size() + 1, from + "/") != 0)
          targets.push_back(p);
      if (!targets.empty()) to = Pick(targets);
    }
    if (to.empty()) to = NewPath();
    if (to.compare(0, from.size() + 1, from + "/") == 0) return std::nullopt;  // own subtree
    return std::pair{from, to};
  }
  // The model after renaming `from` (and all under it) to `to`, which it replaces.
  void Move(const std::string& from, const std::string& to) {
    paths_.erase(to);
    std::map<std::string, Node> moved;
    for (auto it = paths_.begin(); it != paths_.end();) {
      if (it->first == from || it->first.compare(0, from.size() + 1, from + "/") == 0) {
        moved[to + it->first.substr(from.size())] = it->second;
        it = paths_.erase(it);
      } else {
        ++it;
      }
    }
    paths_.insert(moved.begin(), moved.end());
  }

  std::mt19937_64 rng_;
  std::map<std::string, Node> paths_;  // sorted: a directory's subtree follows it
  std::map<int, std::set<std::string>> xattrs_;
  int next_id_ = 1;
  int next_name_ = 0;

 private:
  const std::string home_;
  const std::string long_name_;
};

}  // namespace pmemfs::core::testing
