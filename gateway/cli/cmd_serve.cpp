// `inloop serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR]
// [--destinations FILE] [--route PRACTICE_ID=KIND:URL]... [--daemon]
// [--pidfile FILE]`: runs the daemon (gateway/server/daemon.h) in the
// foreground (systemd style) until SIGTERM/SIGINT, which stop accepting, drain
// in-flight requests and close the store (exit 0). SIGHUP re-reads the
// configuration file, the mapping tables and the destinations (all validated
// first; a bad set is rejected and the old one keeps serving; settings that
// need a restart are named in a warning; Daemon::reload).
// `--daemon` and `--pidfile` are POCO ServerApplication's own options.
//
// Configuration: --config FILE, else config/inloop.json in the working directory
// when it exists, else built-in defaults (docs/daemon.md). --listen and
// --data-dir override the file. INLOOP_API_TOKEN (environment) adds one token
// with every role, for containers and local trials.
//
// `inloop hash-token`: reads an API token from standard input and prints its
// SHA-256 (hex) for the "tokens" list of the configuration.
#include <Poco/Exception.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "gateway/cli/cli_support.h"
#include "gateway/cli/commands.h"
#include "gateway/config/daemon_config.h"
#include "gateway/server/auth.h"
#include "gateway/server/daemon.h"

namespace inloop::gateway {

namespace {

class ServeApplication : public Poco::Util::ServerApplication {
 public:
  ServeApplication(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

 protected:
  void defineOptions(Poco::Util::OptionSet& options) override {
    ServerApplication::defineOptions(options);  // --daemon, --pidfile, --umask
    options.addOption(Poco::Util::Option("config", "c", "configuration file (JSON with comments)")
                          .required(false)
                          .repeatable(false)
                          .argument("FILE"));
    options.addOption(Poco::Util::Option("listen", "l", "listen address, overrides the file")
                          .required(false)
                          .repeatable(false)
                          .argument("HOST:PORT"));
    options.addOption(Poco::Util::Option("data-dir", "d", "data directory, overrides the file")
                          .required(false)
                          .repeatable(false)
                          .argument("DIR"));
    options.addOption(
        Poco::Util::Option("route", "r", "add a destination with default settings (repeatable)")
            .required(false)
            .repeatable(true)
            .argument("PRACTICE_ID=KIND:URL"));
    options.addOption(
        Poco::Util::Option("destinations", "", "destinations file, overrides the configuration")
            .required(false)
            .repeatable(false)
            .argument("FILE"));
    options.addOption(
        Poco::Util::Option("help", "h", "show this help").required(false).repeatable(false));
  }

  void handleOption(const std::string& name, const std::string& value) override {
    ServerApplication::handleOption(name, value);
    if (name == "config") configPath_ = value;
    if (name == "listen") listen_ = value;
    if (name == "data-dir") dataDir_ = value;
    if (name == "route") routes_.push_back(value);
    if (name == "destinations") destinationsFile_ = value;
    if (name == "help") {
      help_ = true;
      stopOptionsProcessing();
    }
  }

  int main(const std::vector<std::string>& args) override {
    if (help_) {
      Poco::Util::HelpFormatter help(options());
      help.setCommand("inloop serve");
      help.setUsage(
          "[--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--destinations FILE] "
          "[--route PRACTICE_ID=KIND:URL]... [--daemon] [--pidfile FILE]");
      help.setHeader("Runs the inloop daemon (HTTP ingest API, store, metrics).");
      help.format(out_);
      return kExitOk;
    }
    if (!args.empty()) {
      err_ << "inloop serve: unexpected argument '" << args.front() << "'\n";
      return kExitUsage;
    }
    std::optional<DaemonConfig> loaded = loadCliConfig(configPath_, err_);
    if (!loaded) return kExitUsage;
    DaemonConfig config = std::move(*loaded);
    ConfigOverrides overrides;
    overrides.listen = listen_;
    overrides.dataDir = dataDir_;
    overrides.destinationsFile = destinationsFile_;
    overrides.routeFlags = routes_;
    if (const char* token = std::getenv("INLOOP_API_TOKEN"); token != nullptr && *token != 0) {
      overrides.extraTokens.push_back(
          TokenConfig{"env:INLOOP_API_TOKEN", sha256HexOf(token), RoleSet::all()});
    }
    if (fhir::Status st = applyOverrides(overrides, &config); !st.isOk()) {
      err_ << "inloop serve: " << st.message() << "\n";
      return kExitUsage;
    }

    // Signals are taken synchronously by this thread (sigwait), so block them
    // before any other thread exists; every thread inherits the mask.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGQUIT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    fhir::Result<std::unique_ptr<Daemon>> daemon = Daemon::start(config, out_);
    if (!daemon.isOk()) {
      err_ << "inloop serve: " << daemon.status().message() << "\n";
      return kExitFailure;
    }
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0) continue;
      if (sig == SIGHUP) {
        (void)(*daemon)->reload("signal:SIGHUP");  // logs its own outcome
        continue;
      }
      break;
    }
    (*daemon)->stop();
    return kExitOk;
  }

 private:
  std::ostream& out_;
  std::ostream& err_;
  std::string configPath_;
  std::string listen_;
  std::string dataDir_;
  std::vector<std::string> routes_;
  std::string destinationsFile_;
  bool help_ = false;
};

}  // namespace

int cmdServe(CommandContext& ctx) {
  std::vector<std::string> args;
  args.push_back("inloop serve");
  args.insert(args.end(), ctx.args.begin(), ctx.args.end());
  try {
    ServeApplication app(ctx.out, ctx.err);
    // POCO needs argv as char**; it handles --daemon and --pidfile itself.
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return app.run(static_cast<int>(args.size()), argv.data());
  } catch (const Poco::Exception& e) {
    // Start-up boundary (option parsing and daemonising throw).
    ctx.err << "inloop serve: " << e.displayText() << "\n";
    return kExitUsage;
  }
}

int cmdHashToken(CommandContext& ctx) {
  if (!ctx.args.empty()) {
    ctx.err << "usage: inloop hash-token < TOKEN_FILE   (reads the token from standard input)\n";
    return kExitUsage;
  }
  std::string token;
  std::getline(ctx.in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) {
    ctx.err << "inloop hash-token: no token on standard input\n";
    return kExitUsage;
  }
  ctx.out << sha256HexOf(token) << "\n";
  return kExitOk;
}

}  // namespace inloop::gateway
