// The live tap: filters, rate limits and bounded per-client queues. See sluice/core/tap.hpp.
#include <sluice/core/tap.hpp>

#include <sluice/event.hpp>

#include <algorithm>

namespace sluice::core {

namespace {

std::vector<std::string> one_or_none(const std::string& pattern) {
  if (pattern.empty()) return {};
  return {pattern};
}

}  // namespace

TapClient::TapClient(TapFilter filter, uint32_t rate, const TapLimits& limits)
    : filter_(std::move(filter)),
      types_(one_or_none(filter_.type)),
      rate_(rate ? rate : limits.default_rate),
      queue_events_(limits.queue_events),
      queue_bytes_(limits.queue_bytes),
      tokens_(rate_),
      refilled_(std::chrono::steady_clock::now()) {}

bool TapClient::wants(std::string_view source, std::string_view type,
                      std::span<const std::string_view> sinks) const {
  if (!filter_.source.empty() && filter_.source != source) return false;
  if (!filter_.sink.empty() &&
      std::find(sinks.begin(), sinks.end(), std::string_view(filter_.sink)) == sinks.end())
    return false;
  return types_.empty() || types_.match(type);
}

void TapClient::offer(const EventPtr& ev, std::chrono::steady_clock::time_point now, Tap& tap) {
  std::lock_guard lock(m_);
  // An emitter may still hold the list from before detach(): a detached client takes nothing.
  if (detached_) return;
  // Token bucket: `rate_` tokens a second, at most one second's worth saved up.
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  if (elapsed > 0) {
    tokens_ = std::min<double>(rate_, tokens_ + elapsed * rate_);
    refilled_ = now;
  }
  if (tokens_ < 1) {
    ++drops_.rate;
    tap.dropped_rate_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  tokens_ -= 1;
  if (queue_.size() >= queue_events_ || bytes_ + ev.bytes() > queue_bytes_) {
    ++drops_.queue;
    tap.dropped_queue_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bytes_ += ev.bytes();
  queue_.push_back(ev);
}

TapClient::Taken TapClient::take(std::vector<EventPtr>& out, size_t max_bytes) {
  std::vector<EventPtr> taken;
  Taken result;
  {
    std::lock_guard lock(m_);
    size_t n = 0, bytes = 0;
    while (n < queue_.size() && (n == 0 || bytes + queue_[n].bytes() <= max_bytes))
      bytes += queue_[n++].bytes();
    if (n == queue_.size()) {
      taken.swap(queue_);
    } else {
      taken.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    }
    bytes_ -= bytes;
    result.more = !queue_.empty();
    result.drops = std::exchange(drops_, {});
  }
  // The events' last references may go here, on the caller's thread, not under m_.
  out.insert(out.end(), std::make_move_iterator(taken.begin()),
             std::make_move_iterator(taken.end()));
  return result;
}

Tap::Tap(TapLimits limits) : limits_(limits), clients_(std::make_shared<const List>()) {}

std::shared_ptr<TapClient> Tap::attach(TapFilter filter, uint32_t rate) {
  std::lock_guard lock(m_);
  const auto& now = clients_;
  if (now->size() >= limits_.clients) return nullptr;
  auto client = std::make_shared<TapClient>(std::move(filter), rate, limits_);
  auto next = std::make_shared<List>(*now);
  next->push_back(client);
  clients_ = std::move(next);
  active_.fetch_add(1, std::memory_order_relaxed);
  return client;
}

void Tap::detach(const std::shared_ptr<TapClient>& client) {
  std::lock_guard lock(m_);
  const auto& now = clients_;
  auto it = std::find(now->begin(), now->end(), client);
  if (it == now->end()) return;
  {
    std::lock_guard client_lock(client->m_);
    client->detached_ = true;
  }
  auto next = std::make_shared<List>(*now);
  next->erase(next->begin() + (it - now->begin()));
  clients_ = std::move(next);
  active_.fetch_sub(1, std::memory_order_relaxed);
}

void Tap::offer(std::string_view source, const EventPtr& ev,
                std::span<const std::string_view> sinks) {
  const auto list = clients();
  if (list->empty()) return;
  const auto now = std::chrono::steady_clock::now();
  const std::string_view type = to_view(ev.view().type);
  for (const auto& client : *list)
    if (client->wants(source, type, sinks)) client->offer(ev, now, *this);
}

TapCounters Tap::counters() const {
  TapCounters c;
  c.clients = active_.load(std::memory_order_relaxed);
  c.sent = sent_.load(std::memory_order_relaxed);
  c.dropped_rate = dropped_rate_.load(std::memory_order_relaxed);
  c.dropped_queue = dropped_queue_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace sluice::core
