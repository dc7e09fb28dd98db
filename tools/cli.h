// The tools' command line: parsing it the same way in mkpmemfs, pmemfs-fsck and pmemfs-tune.
//
//   CLI::App app{"...", "pmemfs-tune"};  ... add options, set_version_flag(...) ...
//   if (std::optional<int> done = tools::ParseCommandLine(app, argc, argv, kUsage)) return *done;
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>

namespace pmemfs::tools {

// Parses argc/argv into `app`. --help and --version print (on stdout) and give CLI11's exit
// status (0); any other parse error prints one line "TOOL: WHAT (see TOOL --help)" on stderr,
// TOOL being the app's name, and gives `usage_status`. std::nullopt: parsed, go on.
inline std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv,
                                           int usage_status) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const char* tool = app.get_name().c_str();
    fprintf(stderr, "%s: %s (see %s --help)\n", tool, e.what(), tool);
    return usage_status;
  }
  return std::nullopt;
}

}  // namespace pmemfs::tools
