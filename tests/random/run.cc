// run.cc: running op sequences on both trees and shrinking failing ones (see run.h).
#include "run.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "compare.h"
#include "side.h"

namespace fsx {
namespace {

// Touched: the objects an op can change: its paths and their parents.
std::set<std::string> Touched(const Op& op) {
  std::set<std::string> out;
  auto add = [&](const std::string& p) {
    if (p.empty()) return;
    out.insert(p);
    const size_t slash = p.rfind('/');
    out.insert(slash == std::string::npos ? "" : p.substr(0, slash));
  };
  switch (op.kind) {
    case Kind::kClose:
    case Kind::kFdWrite:
    case Kind::kFdRead:
    case Kind::kFdTruncate:
    case Kind::kFdSync:
      return out;  // the slot is compared; the tree at the next whole-tree check
    case Kind::kSymlink:
      add(op.path);
      return out;
    default:
      add(op.path);
      add(op.path2);
      return out;
  }
}

bool UsesSlot(Kind k) {
  return k == Kind::kOpen || k == Kind::kClose || k == Kind::kFdWrite || k == Kind::kFdRead ||
         k == Kind::kFdTruncate || k == Kind::kFdSync;
}

// Step: applies op to both sides and compares; "" when equal.
std::string Step(Side& fs, Side& ref, const Op& op, bool verbose, size_t index) {
  const Outcome a = fs.Apply(op);
  const Outcome b = ref.Apply(op);
  if (verbose) printf("%6zu %-70s %s\n", index, Format(op).c_str(), Describe(b).c_str());
  if (a != b) {
    std::string what = "result " + Describe(a) + " (pmemfs) vs " + Describe(b) + " (reference)";
    if (a.err == 0 && b.err == 0 && a.value == b.value && a.data != b.data)
      what = "the bytes read differ";
    return what;
  }
  for (const std::string& rel : Touched(op))
    if (std::string d = CompareObject(fs, ref, rel); !d.empty()) return d;
  if (UsesSlot(op.kind))
    if (std::string d = CompareSlot(fs, ref, op.slot); !d.empty()) return d;
  return "";
}

bool Reachable(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0;
}

RunResult RunSource(const RunOptions& options, const std::string& name, uint64_t count,
                    const std::function<Op(const Side& ref)>& next) {
  RunResult result;
  const std::string fs_root = options.fs_dir + "/" + name, ref_root = options.ref_dir + "/" + name;
  for (const std::string& root : {fs_root, ref_root}) {
    std::string err;
    if (!RemoveTree(root, &err)) {
      result.error = "cannot remove an old tree: " + err;
      return result;
    }
    if (mkdir(root.c_str(), 0755) != 0 || chmod(root.c_str(), 0755) != 0) {
      result.error = "cannot create " + root + ": " + ErrName(errno);
      return result;
    }
  }
  {
    Side fs(fs_root, false), ref(ref_root, true);
    auto diverge = [&](size_t step, std::string what) {
      result.divergence = Divergence{.step = step, .what = std::move(what),
                                     .fs_gone = !Reachable(options.fs_dir)};
    };
    for (uint64_t i = 0; i < count && !result.divergence; i++) {
      result.ops.push_back(next(ref));
      if (std::string d = Step(fs, ref, result.ops.back(), options.verbose, i); !d.empty()) {
        diverge(i, d);
        break;
      }
      if (options.check_every > 0 && (i + 1) % options.check_every == 0) {
        result.tree_checks++;
        if (std::string d = CompareTree(fs, ref); !d.empty()) diverge(i, "(whole-tree check) " + d);
      }
    }
    if (!result.divergence) {
      for (int s = 0; s < kSlots && !result.divergence; s++)
        if (std::string d = CompareSlot(fs, ref, s); !d.empty()) diverge(result.ops.size(), d);
      fs.CloseAll();
      ref.CloseAll();
      result.tree_checks++;
      if (!result.divergence)
        if (std::string d = CompareTree(fs, ref); !d.empty())
          diverge(result.ops.size(), "(final whole-tree check) " + d);
    }
  }
  if (!result.divergence && !options.keep) {
    for (const std::string& root : {fs_root, ref_root}) {
      std::string err;
      if (!RemoveTree(root, &err)) {
        result.divergence = Divergence{.step = result.ops.size(), .what = "rm -r of the tree: " + err,
                                       .fs_gone = !Reachable(options.fs_dir)};
        break;
      }
    }
  }
  return result;
}

}  // namespace

RunResult Run(const RunOptions& options, const std::string& name, const std::vector<Op>& ops) {
  size_t i = 0;
  return RunSource(options, name, ops.size(), [&](const Side&) { return ops[i++]; });
}

RunResult RunRandom(const RunOptions& options, const std::string& name, Generator* gen,
                    uint64_t count) {
  return RunSource(options, name, count, [&](const Side& ref) {
    bool open_slots[kSlots];
    for (int s = 0; s < kSlots; s++) open_slots[s] = ref.slot_fd(s) >= 0;
    return gen->Next(ref.Entries(), open_slots);
  });
}

RunResult CompareKept(const RunOptions& options, const std::string& name) {
  RunResult result;
  const std::string fs_root = options.fs_dir + "/" + name, ref_root = options.ref_dir + "/" + name;
  for (const std::string& root : {fs_root, ref_root})
    if (!Reachable(root)) {
      result.error = "no tree " + root + " (run with --keep first)";
      return result;
    }
  {
    const Side fs(fs_root, false), ref(ref_root, true);
    result.tree_checks = 1;
    if (std::string d = CompareTree(fs, ref); !d.empty()) {
      result.divergence = Divergence{.what = d, .fs_gone = !Reachable(options.fs_dir)};
      return result;
    }
  }
  for (const std::string& root : {fs_root, ref_root}) {
    std::string err;
    if (!options.keep && !RemoveTree(root, &err)) {
      result.divergence = Divergence{.what = "rm -r of the tree: " + err};
      break;
    }
  }
  return result;
}

std::vector<Op> Shrink(const RunOptions& options, const std::string& name, std::vector<Op> ops,
                       double deadline_s, std::string* last_what) {
  const auto start = std::chrono::steady_clock::now();
  auto expired = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > deadline_s;
  };
  RunOptions quiet = options;
  quiet.verbose = false;
  quiet.keep = false;
  int trials = 0;
  // Fails: the candidate still diverges (and pmemfs is still there); trims it to the failing
  // prefix.
  auto fails = [&](std::vector<Op>* candidate) {
    const std::string trial = name + "-shrink" + std::to_string(trials++);
    RunResult r = Run(quiet, trial, *candidate);
    std::string err;  // (a tree pmemfs cannot remove stays; the next trial uses a new name)
    RemoveTree(options.fs_dir + "/" + trial, &err);
    RemoveTree(options.ref_dir + "/" + trial, &err);
    if (!r.divergence || r.divergence->fs_gone || !r.error.empty()) return false;
    candidate->resize(std::min(candidate->size(), r.divergence->step + 1));
    *last_what = r.divergence->what;
    return true;
  };
  size_t chunk = std::max<size_t>(ops.size() / 2, 1);
  while (!expired()) {
    bool removed = false;
    for (size_t i = 0; i < ops.size() && !expired();) {
      std::vector<Op> candidate(ops.begin(), ops.begin() + i);
      candidate.insert(candidate.end(), ops.begin() + std::min(ops.size(), i + chunk), ops.end());
      if (!candidate.empty() && fails(&candidate)) {
        ops = std::move(candidate);
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (chunk == 1 && !removed) break;
    if (!removed) chunk = std::max<size_t>(chunk / 2, 1);
    chunk = std::min(chunk, std::max<size_t>(ops.size() / 2, 1));
  }
  printf("shrinking: %d replays in %.1f s\n", trials,
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return ops;
}

}  // namespace fsx
