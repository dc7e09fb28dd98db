// run.h: running an op sequence on both trees and shrinking a failing one.
//
// Run() makes fresh trees NAME under the pmemfs and the reference directories, applies the ops
// to both (from a list or, with a Generator, new random ones), and after each op compares the
// two Outcomes and the touched objects; the whole trees every check_every ops and at the end.
// It stops at the first divergence. Shrink() then replays subsets of the failing prefix on fresh
// trees (greedy delta debugging) and returns the shortest sequence that still diverges.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "op.h"

namespace fsx {

struct RunOptions {
  std::string fs_dir;    // a directory on pmemfs
  std::string ref_dir;   // a directory on the reference filesystem
  int check_every = 25;  // whole-tree comparison every so many ops (0: only at the end)
  bool verbose = false;
  bool keep = false;     // keep the trees after a run without divergence
};

struct Divergence {
  size_t step = 0;        // index of the op after which the trees differed (ops.size(): at the end)
  std::string what;       // what differed
  bool fs_gone = false;   // the pmemfs directory itself became unreachable (daemon gone?)
};

struct RunResult {
  std::vector<Op> ops;                   // the ops applied
  std::optional<Divergence> divergence;  // none: equal throughout
  uint64_t tree_checks = 0;              // whole-tree comparisons made
  std::string error;                     // an operational error (cannot set up the trees)
};

// Run: the given ops. RunRandom: count ops from gen, each made for the reference tree's state.
RunResult Run(const RunOptions& options, const std::string& name, const std::vector<Op>& ops);
RunResult RunRandom(const RunOptions& options, const std::string& name, Generator* gen,
                    uint64_t count);

// CompareKept: compares the trees NAME a run with options.keep left (after a remount, say),
// then removes them unless options.keep.
RunResult CompareKept(const RunOptions& options, const std::string& name);

// Shrink: a shorter sequence that still diverges (at most deadline_s seconds of replays).
std::vector<Op> Shrink(const RunOptions& options, const std::string& name, std::vector<Op> ops,
                       double deadline_s, std::string* last_what);

}  // namespace fsx
