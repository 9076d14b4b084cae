// The reconnect loop of a source: one connection at a time, a new attempt after each loss with
// back-off and jitter (sluice/backoff.hpp), a slow retry (the policy's max) after a refusal that
// a quick retry would only repeat (authentication: it also counts against lock-out policies),
// the state reports and log lines of a loss, the `sluice.reconnected` event when a connection
// comes up again, and the stop sequence. The protocol code says when a connection is up
// (up()) and when it is gone (lost()); everything here runs on the instance's Strand.
#pragma once

#include <sluice/backoff.hpp>
#include <sluice/framework_events.hpp>
#include <sluice/net/io_pool.hpp>
#include <sluice/sdk.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::net {

// Why a connection (or an attempt) ended, and how soon to try again.
struct Loss {
  enum class Retry {
    backoff,  // the next back-off delay
    slow,     // the policy's max: a refusal (credentials, permissions) that retrying repeats
    fresh,    // back-off from its start (the peer ended a working connection on purpose)
    now,      // at once, without a back-off step (e.g. the same attempt with another dialect)
  };
  std::string reason;
  Retry retry = Retry::backoff;
  bool was_up = false;  // the connection had come up (up() was called for it)
};

// "250ms", "2s", "1.5s", "3600s".
inline std::string delay_text(std::chrono::milliseconds d) {
  if (d.count() < 1000) return std::to_string(d.count()) + "ms";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6gs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

class Reconnector {
 public:
  struct Settings {
    BackoffPolicy backoff;
    std::string source;         // of the sluice.reconnected events
    std::string log_prefix;     // before log lines ("ldm_xml: "), may be empty
    std::string metric_prefix;  // before metric names ("ldm."), may be empty
  };
  // Starts one connection attempt; its outcome comes back as up() and, later, lost().
  using Attempt = std::function<void()>;
  // Reports a loss (state and log line); `delay` is when the next attempt starts.
  using Report = std::function<void(const Loss&, std::chrono::milliseconds delay)>;
  // The stop sequence of the current connection (say goodbye, close); calls done when finished.
  using Shutdown = std::function<void(std::function<void()> done)>;

  Reconnector(Host host, Strand& strand, Settings settings, EventIds& ids, Attempt attempt,
              Report report = {})
      : host_(host),
        strand_(strand),
        settings_(std::move(settings)),
        ids_(ids),
        attempt_(std::move(attempt)),
        report_(std::move(report)),
        backoff_(settings_.backoff),
        timer_(strand.executor()) {
    if (!report_)
      report_ = [this](const Loss& l, std::chrono::milliseconds d) { default_report(l, d); };
  }
  Reconnector(const Reconnector&) = delete;
  Reconnector& operator=(const Reconnector&) = delete;

  // The first attempt, on the strand.
  void start() {
    started_ = true;
    strand_.post([this] { attempt(); });
  }

  // A connection came up: the back-off starts over. Returns the sluice.reconnected event when
  // an earlier connection had been up (emit it before anything read on this connection).
  std::optional<Event> up(std::vector<std::string> resubscribed) {
    backoff_.reset();
    std::optional<Event> event;
    const int64_t now = now_unix_ns();
    if (ever_up_) {
      ++reconnects_;
      host_.metric((settings_.metric_prefix + "reconnects").c_str());
      host_.info(settings_.log_prefix + "reconnected (" + std::to_string(reconnects_) +
                 "): " + reason_);
      framework_events::Reconnected r;
      r.reconnects = reconnects_;
      r.attempts = attempts_;
      r.reason = reason_;
      r.from_unix_ns = lost_at_ns_;
      r.to_unix_ns = now;
      r.resubscribed = std::move(resubscribed);
      event = framework_events::reconnected(ids_.next("reconnected"), settings_.source, r);
    }
    last_up_at_ns_ = now;
    lost_at_ns_ = 0;
    attempts_ = 0;
    reason_.clear();
    ever_up_ = true;
    return event;
  }

  // The connection or attempt ended: report it and schedule the next attempt.
  void lost(const Loss& loss) {
    if (stopping_) return;
    if (ever_up_ && lost_at_ns_ == 0) lost_at_ns_ = now_unix_ns();
    // sluice.reconnected tells why the last working connection ended, not the failed retries.
    if (loss.was_up || reason_.empty()) reason_ = loss.reason;
    std::chrono::milliseconds delay{0};
    switch (loss.retry) {
      case Loss::Retry::slow:
        delay = settings_.backoff.max;
        break;
      case Loss::Retry::fresh:
        backoff_.reset();
        delay = backoff_.next();
        break;
      case Loss::Retry::backoff:
        delay = backoff_.next();
        break;
      case Loss::Retry::now:
        break;
    }
    if (loss.retry != Loss::Retry::now) report_(loss, delay);
    schedule(delay);
  }

  // An exception escaped a handler of the strand (Strand's recover): log and count it, then
  // replace the connection: `abort` ends the current one (its lost() follows) and returns
  // true, or returns false when there is none, and the next attempt is scheduled here.
  void internal_error(const std::string& why, const std::function<bool()>& abort) {
    host_.error(settings_.log_prefix + "internal error: " + why);
    host_.metric((settings_.metric_prefix + "internal_errors").c_str());
    if (stopping_) return;
    if (abort && abort()) return;
    timer_.cancel();
    lost(Loss{"internal error: " + why, Loss::Retry::backoff, false});
  }

  bool stopping() const { return stopping_; }
  uint64_t reconnects() const { return reconnects_; }
  // When the last working connection ended (0: none has, or one is up again), and when the
  // last one came up: the outage an up() ended is [lost_at_ns() before it, up_at_ns() after].
  int64_t lost_at_ns() const { return lost_at_ns_; }
  int64_t up_at_ns() const { return last_up_at_ns_; }

  // From the host's thread: runs `shutdown` on the strand (no attempt starts after it), waits
  // for it to call done, but not longer than `wait`, then closes the strand: when stop returns
  // no handler of the instance runs again. Call it once the emit side may still be used.
  void stop(const Shutdown& shutdown, std::chrono::milliseconds wait) {
    if (!started_ || strand_.closed()) return strand_.close();
    auto finished = std::make_shared<std::promise<void>>();
    auto future = finished->get_future();
    strand_.post([this, shutdown, finished] {
      stopping_ = true;
      timer_.cancel();
      auto once = std::make_shared<std::once_flag>();
      auto done = [finished, once] { std::call_once(*once, [&] { finished->set_value(); }); };
      if (shutdown)
        shutdown(done);
      else
        done();
    });
    future.wait_for(wait);
    strand_.close();
  }

 private:
  void attempt() {
    if (stopping_) return;
    ++attempts_;
    attempt_();
  }

  void schedule(std::chrono::milliseconds delay) {
    timer_.expires_after(delay);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) attempt();
    });
  }

  // The default report: "<reason>; retrying in <delay>"; a slow retry is an error and state
  // down, a loss of a working connection degraded, a failed attempt connecting.
  void default_report(const Loss& l, std::chrono::milliseconds delay) {
    const std::string detail = l.reason + "; retrying in " + delay_text(delay);
    if (l.retry == Loss::Retry::slow) {
      host_.state(State::down, detail);
      host_.error(settings_.log_prefix + detail);
    } else {
      host_.state(l.was_up ? State::degraded : State::connecting, detail);
      host_.warn(settings_.log_prefix + detail);
    }
  }

  Host host_;
  Strand& strand_;
  Settings settings_;
  EventIds& ids_;
  Attempt attempt_;
  Report report_;
  Backoff backoff_;
  boost::asio::steady_timer timer_;
  bool started_ = false;
  // strand only
  bool stopping_ = false;
  bool ever_up_ = false;
  uint64_t reconnects_ = 0;
  uint64_t attempts_ = 0;  // since the last connection that came up
  int64_t lost_at_ns_ = 0;
  int64_t last_up_at_ns_ = 0;
  std::string reason_;
};

}  // namespace sluice::net
