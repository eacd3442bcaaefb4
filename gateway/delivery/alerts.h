#pragma once

// Alerts that reach a person: rules evaluated over the delivery engine's
// per-destination status, and over reloads, posted as JSON to webhooks.
//
// AlertRules (no I/O, no threads) turns statuses into transitions. Per
// (alert, destination) an alert FIRES when its condition starts, fires again
// (repeat) every `repeatMs` while the condition persists (0: never), and is
// RESOLVED once when it clears (or when the destination is no longer in the
// statuses). The conditions, each one a rule that can be turned off
// (AlertRulesConfig):
//   "dead-letters"        at least `deadLetterCount` messages dead-lettered
//                         (DeliveryCounters::deadLettered rising) within the
//                         last `deadLetterIntervalMs`, as seen by evaluate();
//   "circuit-open"        the circuit is not closed (open or half-open);
//   "not-sent"            not-sent messages wait (DestinationStatus::notSent);
//   "oldest-pending-age"  the oldest pending message is older than
//                         `oldestPendingAgeMs`;
//   "reload-rejected"     a reload was rejected (fired on every rejection;
//                         resolved by the next applied reload). Not tied to a
//                         destination.
// Alerts carry destination ids, counts, states and durations only: never
// record content, patient data, errors from receivers or secrets.
//
// Alerter runs AlertRules on a timer (`evaluateEveryMs`) against a status
// source (DeliveryEngine::status() in the daemon; any function in tests),
// logs each transition (`alert-fired` warning, `alert-resolved` info), counts
// them for /metrics and posts each one to every webhook from its own sender
// thread, so a slow or failing webhook never blocks delivery or evaluation.
// A POST that does not answer 2xx is retried (`attempts` per webhook, backoff
// doubling from retryBaseMillis); one still failing after the last attempt is
// logged as `alert-webhook-failed` and counted. At most kMaxQueuedPosts posts
// wait; beyond, the oldest is dropped (counted as a failure). Posts still
// waiting at stop() are dropped (their transitions were logged).
//
// Time: AlertRules and the alert's "at" use the injected Clock; the timer and
// the retry backoff wait on a condition variable in real time.
// Thread safety: every public method of Alerter may be called from any
// thread; AlertRules is not thread-safe (Alerter guards it).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "fhir/json.h"
#include "gateway/config/daemon_config.h"
#include "gateway/delivery/engine.h"

namespace inloop::gateway {

class Clock;
class JsonLogger;

// One transition of one alert.
struct Alert {
  std::string name;         // "dead-letters", "circuit-open", ...
  bool firing = true;       // false: resolved
  bool repeat = false;      // firing again: the condition persisted for repeatMs
  std::string destination;  // empty: not about one destination
  std::string summary;      // one line for a person
  std::int64_t atMillis = 0;
  fhir::Json details;  // object of counts and states
};

// The webhook body: {"alert", "state": "firing"|"resolved", "destination"
// (null when none), "summary", "at" (FHIR instant), "details", "repeat",
// "source": "inloop", "instance"}.
fhir::Json alertToJson(const Alert& alert, const std::string& instance);

class AlertRules {
 public:
  explicit AlertRules(AlertRulesConfig rules = {}, std::int64_t repeatMillis = 3600000);

  // New rules and repeat interval; alerts whose rule is now off resolve at
  // the next evaluate().
  void reconfigure(AlertRulesConfig rules, std::int64_t repeatMillis);

  // The transitions since the previous call, per destination in the order of
  // `statuses`, then resolutions of destinations no longer listed.
  std::vector<Alert> evaluate(const std::vector<DestinationStatus>& statuses,
                              std::int64_t nowMillis);

  // A reload was rejected at `stage` ("config", "mappings", "destinations")
  // with `errors` error issues: one firing "reload-rejected" (none when the
  // rule is off).
  std::vector<Alert> reloadRejected(std::string_view stage, std::size_t errors,
                                    std::int64_t nowMillis);
  // A reload was applied: "reload-rejected" resolves if it was firing.
  std::vector<Alert> reloadApplied(std::int64_t nowMillis);

  // Alert names now firing, with how many (destinations) each.
  std::map<std::string, int> firingCounts() const;

 private:
  struct Active {
    std::int64_t lastSentMillis = 0;
  };
  using Key = std::pair<std::string, std::string>;  // alert, destination
  // One rule's verdict for a destination: set while the condition holds.
  struct Condition {
    std::string summary;
    fhir::Json details;
  };
  void transition(const Key& key, std::optional<Condition> condition, std::string resolvedSummary,
                  fhir::Json details, std::int64_t nowMillis, std::vector<Alert>* out);
  // Dead letters of `s` within the interval, from the counter's increments.
  std::int64_t deadLetteredInInterval(const DestinationStatus& s, std::int64_t nowMillis);

  AlertRulesConfig rules_;
  std::int64_t repeatMillis_;
  std::map<Key, Active> active_;
  struct DeadLetterWindow {
    std::uint64_t lastCounter = 0;
    std::deque<std::pair<std::int64_t, std::int64_t>> increments;  // at, count
  };
  std::map<std::string, DeadLetterWindow> windows_;
};

struct AlerterDeps {
  std::function<std::vector<DestinationStatus>()> statuses;  // required
  const Clock* clock = nullptr;                              // required
  JsonLogger* logger = nullptr;                              // may be null
  std::int64_t retryBaseMillis = 1000;  // first webhook retry waits this (then doubles)
  // May be null; notified after each webhook post attempt was accounted
  // (delivered, retry queued, or failed for good).
  ChangeSignal* changes = nullptr;
};

class Alerter {
 public:
  static constexpr std::size_t kMaxQueuedPosts = 1000;

  Alerter(AlertsConfig config, AlerterDeps deps);
  ~Alerter();
  Alerter(const Alerter&) = delete;
  Alerter& operator=(const Alerter&) = delete;

  // Starts the evaluation timer (first evaluation at once) and the sender.
  void start();
  // Stops both; an in-flight POST finishes (bounded by its timeoutMs). Idempotent.
  void stop();

  // A reload's alerts section: rules, repeat, webhooks, instance, timer.
  void reconfigure(AlertsConfig config);

  // One evaluation now (the timer's work), on the calling thread.
  void evaluateNow();
  void reloadRejected(std::string_view stage, std::size_t errors);
  void reloadApplied();

  // Prometheus text: inloop_alerts_total{alert} (firing notifications,
  // repeats included), inloop_alerts_firing{alert} (gauge: destinations with
  // the alert firing now), inloop_alert_webhook_failures_total{webhook}
  // (notifications given up after every attempt).
  std::string renderMetrics() const;

 private:
  struct Post {
    std::string webhookId;
    std::string alert;
    std::string body;
    int attempt = 0;  // attempts made
    std::chrono::steady_clock::time_point due;
  };
  void dispatch(std::vector<Alert> alerts);  // mutex_ held
  void timerLoop();
  void senderLoop();
  // One POST; empty: delivered, else what failed (no URL, no secret values).
  std::string send(const AlertWebhookConfig& webhook, const std::string& body);
  void failed(const Post& post, const std::string& error);  // mutex_ held
  const AlertWebhookConfig* webhook(const std::string& id) const;

  AlerterDeps deps_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable timerCv_;
  std::condition_variable senderCv_;
  AlertsConfig config_;
  std::string instance_;
  AlertRules rules_;
  std::deque<Post> posts_;
  std::map<std::string, std::uint64_t> fired_;     // by alert
  std::map<std::string, std::uint64_t> failures_;  // by webhook
  bool stopping_ = false;
  bool started_ = false;
  std::thread timer_;
  std::thread sender_;
};

}  // namespace inloop::gateway
