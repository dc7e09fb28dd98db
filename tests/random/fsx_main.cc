// pmemfs-fsx: a randomized differential tester in the spirit of fsx and fsstress.
//
//   pmemfs-fsx --dir PMEMFS_DIR --ref REF_DIR [--seed N] [--ops N] [-v]
//   pmemfs-fsx --dir PMEMFS_DIR --ref REF_DIR --replay FILE|-
//   pmemfs-fsx --dir PMEMFS_DIR --ref REF_DIR --compare NAME   (trees a --keep run left)
//
// Applies a seeded random sequence of operations (op.h) to a tree under PMEMFS_DIR (on a pmemfs
// mount) and to one under REF_DIR (on tmpfs), and compares results and trees as it goes
// (compare.h). On a divergence it prints the seed, the step and what differed, shrinks the
// sequence to a short one that still diverges (run.h) and prints it as a command line that
// replays it. Exit status: 0 equal throughout, 1 divergence, 2 usage or operational error.
#include <CLI/CLI.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include "op.h"
#include "run.h"

namespace {

using namespace fsx;

int Fail(const std::string& message) {
  fprintf(stderr, "pmemfs-fsx: %s\n", message.c_str());
  return 2;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// ShellQuote: 'text' for sh (op lines hold no quotes, but be safe).
std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool ReadOps(const std::string& file, std::vector<Op>* ops, std::string* error) {
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (file != "-") {
    in_file.open(file);
    if (!in_file) {
      *error = "cannot read " + file;
      return false;
    }
    in = &in_file;
  }
  std::string line;
  for (int n = 1; std::getline(*in, line); n++) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    std::optional<Op> op = Parse(line, error);
    if (!op) {
      *error = file + ":" + std::to_string(n) + ": " + *error;
      return false;
    }
    ops->push_back(*op);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pmemfs-fsx: randomized differential testing of a pmemfs tree against a reference"};
  RunOptions options;
  uint64_t seed = std::random_device{}() % 1000000;
  uint64_t count = 1000;
  std::string replay, compare;
  double shrink_seconds = 120;
  bool no_shrink = false;
  GenOptions gen_options;
  app.add_option("--dir", options.fs_dir, "a directory on pmemfs (the trees go under it)")->required();
  app.add_option("--ref", options.ref_dir, "a directory on the reference filesystem (tmpfs)")->required();
  app.add_option("--seed", seed, "the random sequence (default: a random one, printed)");
  app.add_option("--ops", count, "operations to run")->check(CLI::PositiveNumber);
  app.add_option("--replay", replay, "run the operations listed in FILE (- for stdin), one a line");
  app.add_option("--compare", compare,
                 "only compare the trees NAME (kept by --keep, e.g. fsx-SEED) and remove them");
  app.add_option("--check-every", options.check_every, "whole-tree comparison every N ops (0: at the end)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-len", gen_options.max_len, "most offsets and sizes stay below this")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 30));
  app.add_option("--shrink-seconds", shrink_seconds, "time limit for shrinking a failing sequence");
  app.add_flag("--no-shrink", no_shrink, "report a divergence without shrinking it");
  app.add_flag("--keep", options.keep, "keep the trees after a run without divergence");
  app.add_flag("-v,--verbose", options.verbose, "print every operation and its result");
  CLI11_PARSE(app, argc, argv);

  for (const std::string& d : {options.fs_dir, options.ref_dir})
    if (!IsDir(d)) return Fail(d + " is not a directory");
  {
    struct stat a, b;
    stat(options.fs_dir.c_str(), &a);
    stat(options.ref_dir.c_str(), &b);
    if (a.st_dev == b.st_dev) return Fail("--dir and --ref are on the same filesystem");
  }
  umask(022);
  setvbuf(stdout, nullptr, _IOLBF, 0);

  if (!compare.empty()) {
    RunResult r = CompareKept(options, compare);
    if (!r.error.empty()) return Fail(r.error);
    if (r.divergence) {
      printf("pmemfs-fsx: DIVERGENCE in the kept trees %s: %s\n", compare.c_str(),
             r.divergence->what.c_str());
      return 1;
    }
    printf("pmemfs-fsx: kept trees %s are equal\n", compare.c_str());
    return 0;
  }

  const auto start = std::chrono::steady_clock::now();
  RunResult result;
  std::string name;
  if (!replay.empty()) {
    std::vector<Op> ops;
    std::string error;
    if (!ReadOps(replay, &ops, &error)) return Fail(error);
    name = "fsx-replay";
    result = Run(options, name, ops);
  } else {
    name = "fsx-" + std::to_string(seed);
    Generator gen(seed, gen_options);
    result = RunRandom(options, name, &gen, count);
  }
  if (!result.error.empty()) return Fail(result.error);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string what = replay.empty() ? "seed " + std::to_string(seed) : "replay of " + replay;
  if (!result.divergence) {
    printf("pmemfs-fsx: %s: %zu ops, equal throughout (%lu whole-tree checks, %.1f s)\n",
           what.c_str(), result.ops.size(), result.tree_checks, seconds);
    return 0;
  }

  const Divergence& d = *result.divergence;
  printf("pmemfs-fsx: DIVERGENCE: %s, step %zu of %zu: %s\n", what.c_str(), d.step,
         result.ops.size(), d.step < result.ops.size() ? Format(result.ops[d.step]).c_str() : "(end)");
  printf("  %s\n", d.what.c_str());
  printf("  trees kept: %s/%s and %s/%s\n", options.fs_dir.c_str(), name.c_str(),
         options.ref_dir.c_str(), name.c_str());
  if (d.fs_gone) {
    printf("  %s is unreachable (is the daemon gone?): not shrinking\n", options.fs_dir.c_str());
    return 1;
  }
  std::vector<Op> ops = result.ops;
  ops.resize(std::min(ops.size(), d.step + 1));
  if (!no_shrink) {
    printf("shrinking %zu ops (at most %.0f s)...\n", ops.size(), shrink_seconds);
    std::string last_what = d.what;
    ops = Shrink(options, name, ops, shrink_seconds, &last_what);
    printf("minimal sequence: %zu ops; it diverges with: %s\n", ops.size(), last_what.c_str());
  }
  for (const Op& op : ops) printf("  %s\n", Format(op).c_str());
  printf("reproduce with:\n  printf '%%s\\n'");
  for (const Op& op : ops) printf(" %s", ShellQuote(Format(op)).c_str());
  printf(" | %s --dir %s --ref %s --replay -\n", argv[0], options.fs_dir.c_str(),
         options.ref_dir.c_str());
  return 1;
}
