#include "gateway/delivery/alerts.h"

#include <Poco/Environment.h>
#include <Poco/Exception.h>

#include <algorithm>
#include <sstream>

#include "gateway/base/change_signal.h"
#include "gateway/base/clock.h"
#include "gateway/config/destinations_config.h"
#include "gateway/log/json_logger.h"
#include "gateway/transport/http_client.h"

namespace inloop::gateway {

namespace {

constexpr const char* kDeadLetters = "dead-letters";
constexpr const char* kCircuitOpen = "circuit-open";
constexpr const char* kNotSent = "not-sent";
constexpr const char* kOldestPendingAge = "oldest-pending-age";
constexpr const char* kReloadRejected = "reload-rejected";

// "90 s", "5 min", "2 h" (rounded down).
std::string duration(std::int64_t millis) {
  const std::int64_t s = millis / 1000;
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  return std::to_string(s / 3600) + " h";
}

std::string plural(std::int64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// What every destination alert tells: the figures of GET /destinations.
fhir::Json statusDetails(const DestinationStatus& s) {
  fhir::Json d = fhir::Json::object();
  d.set("health", fhir::Json::string(s.health));
  d.set("circuit", fhir::Json::string(std::string(circuitStateName(s.circuit))));
  d.set("queueDepth", fhir::Json::number(s.queueDepth));
  d.set("deadLetters", fhir::Json::number(s.deadLetters));
  d.set("notSent", fhir::Json::number(s.notSent));
  d.set("patientUnmatched", fhir::Json::number(s.patientUnmatched));
  d.set("oldestPendingAgeSeconds", fhir::Json::number(s.oldestPendingAgeMillis / 1000));
  return d;
}

std::string hostName() {
  try {
    return Poco::Environment::nodeName();
  } catch (const Poco::Exception&) {
    return "unknown";
  }
}

}  // namespace

fhir::Json alertToJson(const Alert& alert, const std::string& instance) {
  fhir::Json o = fhir::Json::object();
  o.set("alert", fhir::Json::string(alert.name));
  o.set("state", fhir::Json::string(alert.firing ? "firing" : "resolved"));
  o.set("destination",
        alert.destination.empty() ? fhir::Json() : fhir::Json::string(alert.destination));
  o.set("summary", fhir::Json::string(alert.summary));
  o.set("at", fhir::Json::string(formatInstant(alert.atMillis)));
  o.set("details", alert.details.isObject() ? alert.details : fhir::Json::object());
  o.set("repeat", fhir::Json::boolean(alert.repeat));
  o.set("source", fhir::Json::string("inloop"));
  o.set("instance", fhir::Json::string(instance));
  return o;
}

// --- AlertRules ---

AlertRules::AlertRules(AlertRulesConfig rules, std::int64_t repeatMillis)
    : rules_(rules), repeatMillis_(repeatMillis) {}

void AlertRules::reconfigure(AlertRulesConfig rules, std::int64_t repeatMillis) {
  rules_ = rules;
  repeatMillis_ = repeatMillis;
}

void AlertRules::transition(const Key& key, std::optional<Condition> condition,
                            std::string resolvedSummary, fhir::Json details, std::int64_t nowMillis,
                            std::vector<Alert>* out) {
  auto it = active_.find(key);
  Alert a;
  a.name = key.first;
  a.destination = key.second;
  a.atMillis = nowMillis;
  if (condition) {
    const bool repeat = it != active_.end();
    if (repeat && (repeatMillis_ <= 0 || nowMillis - it->second.lastSentMillis < repeatMillis_)) {
      return;  // still firing, already told
    }
    active_[key].lastSentMillis = nowMillis;
    a.repeat = repeat;
    a.summary = std::move(condition->summary);
    a.details = std::move(condition->details);
  } else {
    if (it == active_.end()) return;
    active_.erase(it);
    a.firing = false;
    a.summary = std::move(resolvedSummary);
    a.details = std::move(details);
  }
  out->push_back(std::move(a));
}

std::int64_t AlertRules::deadLetteredInInterval(const DestinationStatus& s,
                                                std::int64_t nowMillis) {
  DeadLetterWindow& w = windows_[s.id];
  // The counter restarts with the destination's pool (a reload that changed
  // it): everything it counts now is new.
  const std::uint64_t counter = s.counters.deadLettered;
  const std::uint64_t added = counter >= w.lastCounter ? counter - w.lastCounter : counter;
  w.lastCounter = counter;
  if (added > 0) w.increments.emplace_back(nowMillis, static_cast<std::int64_t>(added));
  while (!w.increments.empty() &&
         w.increments.front().first <= nowMillis - rules_.deadLetterIntervalMs) {
    w.increments.pop_front();
  }
  std::int64_t n = 0;
  for (const auto& [at, count] : w.increments) n += count;
  return n;
}

std::vector<Alert> AlertRules::evaluate(const std::vector<DestinationStatus>& statuses,
                                        std::int64_t nowMillis) {
  std::vector<Alert> out;
  std::vector<std::string> seen;
  for (const DestinationStatus& s : statuses) {
    seen.push_back(s.id);
    const fhir::Json base = statusDetails(s);
    auto check = [&](const char* name, bool on, bool holds, std::string summary,
                     std::string resolved, fhir::Json extra = fhir::Json::object()) {
      fhir::Json details = base;
      for (const auto& [k, v] : extra.members()) details.set(k, v);
      std::optional<Condition> c;
      if (on && holds) c = Condition{std::move(summary), details};
      transition({name, s.id}, std::move(c), std::move(resolved), std::move(details), nowMillis,
                 &out);
    };

    const std::int64_t recent = deadLetteredInInterval(s, nowMillis);
    const std::string interval = duration(rules_.deadLetterIntervalMs);
    const std::string waiting = plural(s.deadLetters, "dead letter") +
                                (s.deadLetters == 1 ? " waits" : " wait") + " for an operator";
    fhir::Json dl = fhir::Json::object();
    dl.set("deadLetteredInInterval", fhir::Json::number(recent));
    dl.set("intervalMs", fhir::Json::number(rules_.deadLetterIntervalMs));
    dl.set("threshold", fhir::Json::number(std::int64_t{rules_.deadLetterCount}));
    check(kDeadLetters, rules_.deadLetters, recent >= rules_.deadLetterCount,
          plural(recent, "message") + " dead-lettered for " + s.id + " in the last " + interval +
              "; " + waiting,
          "no new dead letters for " + s.id + " in the last " + interval + "; " + waiting,
          std::move(dl));

    check(kCircuitOpen, rules_.circuitOpen, s.circuit != CircuitState::kClosed,
          "circuit " + std::string(circuitStateName(s.circuit)) + " for " + s.id +
              ": deliveries paused after repeated failures; " + plural(s.queueDepth, "message") +
              " pending",
          "circuit closed for " + s.id + ": deliveries resumed");

    check(kNotSent, rules_.notSent, s.notSent > 0,
          plural(s.notSent, "message") + " for " + s.id +
              " not sent: the destination takes none of their content (replay or discard them)",
          "no not-sent messages wait for " + s.id);

    fhir::Json age = fhir::Json::object();
    age.set("thresholdSeconds", fhir::Json::number(rules_.oldestPendingAgeMs / 1000));
    check(
        kOldestPendingAge, rules_.oldestPendingAgeMs > 0,
        s.queueDepth > 0 && s.oldestPendingAgeMillis > rules_.oldestPendingAgeMs,
        "the oldest pending message for " + s.id + " has waited " +
            duration(s.oldestPendingAgeMillis) + " (alert after " +
            duration(rules_.oldestPendingAgeMs) + "); " + plural(s.queueDepth, "message") +
            " pending",
        "pending messages for " + s.id + " are younger than " + duration(rules_.oldestPendingAgeMs),
        std::move(age));
  }
  // Destinations gone from the configuration (and from the outbox).
  std::vector<Key> gone;
  for (const auto& [key, active] : active_) {
    if (!key.second.empty() && std::find(seen.begin(), seen.end(), key.second) == seen.end()) {
      gone.push_back(key);
    }
  }
  for (const Key& key : gone) {
    transition(key, std::nullopt, key.second + " is no longer configured", fhir::Json::object(),
               nowMillis, &out);
  }
  for (auto it = windows_.begin(); it != windows_.end();) {
    const bool listed = std::find(seen.begin(), seen.end(), it->first) != seen.end();
    it = listed ? std::next(it) : windows_.erase(it);
  }
  return out;
}

std::vector<Alert> AlertRules::reloadRejected(std::string_view stage, std::size_t errors,
                                              std::int64_t nowMillis) {
  std::vector<Alert> out;
  if (!rules_.reloadRejected) return out;
  const Key key{kReloadRejected, ""};
  Alert a;
  a.name = kReloadRejected;
  a.repeat = active_.count(key) != 0;
  a.atMillis = nowMillis;
  a.summary = "a configuration reload was rejected (" + std::string(stage) + ": " +
              plural(static_cast<std::int64_t>(errors), "error") +
              "); the previous configuration keeps serving";
  a.details = fhir::Json::object();
  a.details.set("stage", fhir::Json::string(std::string(stage)));
  a.details.set("errors", fhir::Json::number(static_cast<std::int64_t>(errors)));
  active_[key].lastSentMillis = nowMillis;
  out.push_back(std::move(a));
  return out;
}

std::vector<Alert> AlertRules::reloadApplied(std::int64_t nowMillis) {
  std::vector<Alert> out;
  transition({kReloadRejected, ""}, std::nullopt, "a later configuration reload was applied",
             fhir::Json::object(), nowMillis, &out);
  return out;
}

std::map<std::string, int> AlertRules::firingCounts() const {
  std::map<std::string, int> counts;
  for (const auto& [key, active] : active_) ++counts[key.first];
  return counts;
}

// --- Alerter ---

Alerter::Alerter(AlertsConfig config, AlerterDeps deps)
    : deps_(std::move(deps)),
      config_(std::move(config)),
      instance_(config_.instance.empty() ? hostName() : config_.instance),
      rules_(config_.rules, config_.repeatMs) {}

Alerter::~Alerter() { stop(); }

void Alerter::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  for (const AlertWebhookConfig& w : config_.webhooks) {
    std::vector<mappings::SecretRef> secrets;
    if (w.urlSecret.isSet()) secrets.push_back(w.urlSecret);
    for (const SecretHeaderConfig& h : w.secretHeaders) secrets.push_back(h.value);
    for (const mappings::SecretRef& ref : secrets) {
      fhir::Result<std::string> value = readSecret(ref);
      if (value.isOk() || deps_.logger == nullptr) continue;
      fhir::Json f = fhir::Json::object();
      f.set("webhook", fhir::Json::string(w.id));
      f.set("error", fhir::Json::string(value.status().message()));
      deps_.logger->log(LogLevel::kWarning, "alert-webhook-misconfigured", f);
    }
  }
  timer_ = std::thread([this] { timerLoop(); });
  sender_ = std::thread([this] { senderLoop(); });
}

void Alerter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  timerCv_.notify_all();
  senderCv_.notify_all();
  if (timer_.joinable()) timer_.join();
  if (sender_.joinable()) sender_.join();
}

void Alerter::reconfigure(AlertsConfig config) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rules_.reconfigure(config.rules, config.repeatMs);
    instance_ = config.instance.empty() ? hostName() : config.instance;
    config_ = std::move(config);
    // Posts for webhooks no longer configured are dropped.
    std::erase_if(posts_, [this](const Post& p) { return webhook(p.webhookId) == nullptr; });
  }
  timerCv_.notify_all();
}

void Alerter::evaluateNow() {
  std::vector<DestinationStatus> statuses = deps_.statuses();
  std::lock_guard<std::mutex> lock(mutex_);
  dispatch(rules_.evaluate(statuses, deps_.clock->nowMillis()));
}

void Alerter::reloadRejected(std::string_view stage, std::size_t errors) {
  std::lock_guard<std::mutex> lock(mutex_);
  dispatch(rules_.reloadRejected(stage, errors, deps_.clock->nowMillis()));
}

void Alerter::reloadApplied() {
  std::lock_guard<std::mutex> lock(mutex_);
  dispatch(rules_.reloadApplied(deps_.clock->nowMillis()));
}

void Alerter::dispatch(std::vector<Alert> alerts) {
  for (Alert& a : alerts) {
    if (a.firing) ++fired_[a.name];
    if (deps_.logger != nullptr) {
      fhir::Json f = fhir::Json::object();
      f.set("alert", fhir::Json::string(a.name));
      if (!a.destination.empty()) f.set("destination", fhir::Json::string(a.destination));
      if (a.repeat) f.set("repeat", fhir::Json::boolean(true));
      f.set("summary", fhir::Json::string(a.summary));
      f.set("webhooks", fhir::Json::number(static_cast<std::int64_t>(config_.webhooks.size())));
      deps_.logger->log(a.firing ? LogLevel::kWarning : LogLevel::kInfo,
                        a.firing ? "alert-fired" : "alert-resolved", f);
    }
    const std::string body = fhir::writeJson(alertToJson(a, instance_));
    for (const AlertWebhookConfig& w : config_.webhooks) {
      if (posts_.size() >= kMaxQueuedPosts) {
        Post dropped = std::move(posts_.front());
        posts_.pop_front();
        failed(dropped,
               "dropped: more than " + std::to_string(kMaxQueuedPosts) + " notifications waiting");
      }
      posts_.push_back(Post{w.id, a.name, body, 0, std::chrono::steady_clock::now()});
    }
  }
  if (!alerts.empty()) senderCv_.notify_all();
}

void Alerter::failed(const Post& post, const std::string& error) {
  ++failures_[post.webhookId];
  if (deps_.logger == nullptr) return;
  fhir::Json f = fhir::Json::object();
  f.set("webhook", fhir::Json::string(post.webhookId));
  f.set("alert", fhir::Json::string(post.alert));
  f.set("attempts", fhir::Json::number(std::int64_t{post.attempt}));
  f.set("error", fhir::Json::string(error));
  deps_.logger->log(LogLevel::kError, "alert-webhook-failed", f);
}

const AlertWebhookConfig* Alerter::webhook(const std::string& id) const {
  for (const AlertWebhookConfig& w : config_.webhooks) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

void Alerter::timerLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    evaluateNow();
    lock.lock();
    timerCv_.wait_for(lock, std::chrono::milliseconds(config_.evaluateEveryMs),
                      [this] { return stopping_; });
  }
}

void Alerter::senderLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (posts_.empty()) {
      senderCv_.wait(lock);
      continue;
    }
    auto next = std::min_element(posts_.begin(), posts_.end(),
                                 [](const Post& a, const Post& b) { return a.due < b.due; });
    if (next->due > std::chrono::steady_clock::now()) {
      senderCv_.wait_until(lock, next->due);
      continue;
    }
    Post post = std::move(*next);
    posts_.erase(next);
    const AlertWebhookConfig* w = webhook(post.webhookId);
    if (w == nullptr) continue;
    const AlertWebhookConfig target = *w;
    lock.unlock();
    const std::string error = send(target, post.body);
    lock.lock();
    ++post.attempt;
    if (!error.empty()) {
      if (post.attempt >= target.attempts || stopping_) {
        failed(post, error);
      } else {
        post.due = std::chrono::steady_clock::now() +
                   std::chrono::milliseconds(deps_.retryBaseMillis << (post.attempt - 1));
        posts_.push_back(std::move(post));
      }
    }
    if (deps_.changes != nullptr) deps_.changes->notifyAll();
  }
}

std::string Alerter::send(const AlertWebhookConfig& webhook, const std::string& body) {
  std::string url = webhook.url;
  if (webhook.urlSecret.isSet()) {
    fhir::Result<std::string> secret = readSecret(webhook.urlSecret);
    if (!secret.isOk()) return "url: " + secret.status().message();
    url = *secret;
  }
  HttpClientOptions options;
  options.tls.caFile = webhook.caFile;
  options.timeouts.connectMs = webhook.timeoutMs;
  options.timeouts.requestMs = webhook.timeoutMs;
  options.maxResponseBytes = 64u << 10;
  options.maxIdleSessions = 1;
  options.defaultHeaders = webhook.headers;
  fhir::Result<std::unique_ptr<HttpClient>> client = HttpClient::create(url, options, deps_.logger);
  if (!client.isOk()) return client.status().message();
  HttpRequest request;
  request.method = "POST";
  request.target = (*client)->pathFor(url);
  request.headers.push_back({"Content-Type", "application/json"});
  for (const SecretHeaderConfig& h : webhook.secretHeaders) {
    fhir::Result<std::string> value = readSecret(h.value);
    if (!value.isOk()) return h.name + ": " + value.status().message();
    request.headers.push_back({h.name, *value});
  }
  request.body = body;
  HttpResult result = (*client)->send(request);
  if (result.isOk() && result.response().status >= 200 && result.response().status < 300) {
    return {};
  }
  return describeResult(result);
}

std::string Alerter::renderMetrics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  const char* names[] = {kDeadLetters, kCircuitOpen, kNotSent, kOldestPendingAge, kReloadRejected};
  const std::map<std::string, int> firing = rules_.firingCounts();
  out << "# HELP inloop_alerts_total Alert notifications fired (repeats included).\n"
         "# TYPE inloop_alerts_total counter\n";
  for (const char* name : names) {
    auto it = fired_.find(name);
    out << "inloop_alerts_total{alert=\"" << name << "\"} " << (it == fired_.end() ? 0 : it->second)
        << "\n";
  }
  out << "# HELP inloop_alerts_firing Alerts firing now (destinations per alert).\n"
         "# TYPE inloop_alerts_firing gauge\n";
  for (const char* name : names) {
    auto it = firing.find(name);
    out << "inloop_alerts_firing{alert=\"" << name << "\"} "
        << (it == firing.end() ? 0 : it->second) << "\n";
  }
  out << "# HELP inloop_alert_webhook_failures_total Alert notifications a webhook did not "
         "take after every attempt.\n"
         "# TYPE inloop_alert_webhook_failures_total counter\n";
  for (const AlertWebhookConfig& w : config_.webhooks) {
    auto it = failures_.find(w.id);
    out << "inloop_alert_webhook_failures_total{webhook=\"" << w.id << "\"} "
        << (it == failures_.end() ? 0 : it->second) << "\n";
  }
  return out.str();
}

}  // namespace inloop::gateway
