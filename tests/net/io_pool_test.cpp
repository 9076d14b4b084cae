// sluice/net/io_pool.hpp: one pool shared by instances, its threads gone with the last one;
// a Strand serialises, turns exceptions into recover calls and stops at close().
#include <sluice/net/io_pool.hpp>

#include "test_host.hpp"

#include <boost/asio/steady_timer.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <future>

using namespace std::chrono_literals;
using sluice::net::IoPool;
using sluice::net::Strand;

TEST_CASE(
    "IoPool::shared: one pool while anyone holds it, sized to the cores; threads end with "
    "the last holder") {
  const size_t before = nettest::thread_count();
  auto a = IoPool::shared();
  auto b = IoPool::shared();
  CHECK(a.get() == b.get());
  CHECK(a->threads() == std::max(1u, std::thread::hardware_concurrency()));
  CHECK(nettest::thread_count() == before + a->threads());
  // Twenty instances' strands on it: no thread more.
  std::vector<std::unique_ptr<Strand>> strands;
  for (int i = 0; i < 20; ++i)
    strands.push_back(std::make_unique<Strand>(IoPool::shared(), nullptr));
  CHECK(nettest::thread_count() == before + a->threads());
  strands.clear();
  IoPool* first = a.get();
  a.reset();
  CHECK(nettest::thread_count() == before + b->threads());  // b still holds it
  b.reset();
  CHECK(nettest::thread_count() == before);
  auto c = IoPool::shared();
  CHECK(c->threads() >= 1);
  (void)first;
}

TEST_CASE("IoPool: the last holder may let go inside one of the pool's own handlers") {
  // As when a timer handler took the last reference (weak_ptr::lock) while its instance went
  // away: the handler returns into the pool's scheduler after the pool is gone, which must
  // still be alive (ASan reports a use-after-free otherwise), and the thread ends by itself.
  const size_t before = nettest::thread_count();
  std::promise<void> outside_let_go, released;
  auto pool = std::make_shared<IoPool>(2);
  boost::asio::post(pool->context(),
                    [p = pool, go = outside_let_go.get_future(), &released]() mutable {
                      go.wait();
                      p.reset();  // the last reference
                      released.set_value();
                    });
  pool.reset();
  outside_let_go.set_value();
  auto done = released.get_future();
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  for (int i = 0; i < 500 && nettest::thread_count() != before; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(nettest::thread_count() == before);
}

TEST_CASE("Strand: handlers of one instance never overlap on the pool's threads") {
  auto pool = std::make_shared<IoPool>(4);
  Strand strand(pool, nullptr);
  int counter = 0;  // not atomic: the strand is the only guard (TSan checks it)
  std::atomic<int> inside{0}, overlaps{0}, done{0};
  for (int i = 0; i < 2000; ++i)
    strand.post([&] {
      if (inside.fetch_add(1) != 0) ++overlaps;
      ++counter;
      inside.fetch_sub(1);
      ++done;
    });
  for (int i = 0; i < 500 && done < 2000; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(done == 2000);
  CHECK(overlaps == 0);
  strand.close();
  CHECK(counter == 2000);
}

TEST_CASE("Strand: an exception out of a handler goes to recover and the strand goes on") {
  auto pool = std::make_shared<IoPool>(2);
  std::promise<std::string> recovered;
  std::promise<void> after;
  Strand strand(pool, [&](const std::string& what) { recovered.set_value(what); });
  boost::asio::steady_timer timer(strand.executor(), 1ms);
  timer.async_wait([](const boost::system::error_code&) { throw std::runtime_error("boom"); });
  auto what = recovered.get_future();
  REQUIRE(what.wait_for(5s) == std::future_status::ready);
  CHECK(what.get() == "boom");
  strand.post([&] { after.set_value(); });
  CHECK(after.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(pool->escaped() == 0);
}

TEST_CASE("Strand::close waits for the running handler; nothing runs after it returns") {
  auto pool = std::make_shared<IoPool>(2);
  Strand strand(pool, nullptr);
  std::promise<void> started;
  std::atomic<bool> finished{false};
  std::atomic<int> later{0};
  strand.post([&] {
    started.set_value();
    std::this_thread::sleep_for(200ms);
    finished = true;
  });
  for (int i = 0; i < 10; ++i)
    strand.post([&] { ++later; });
  started.get_future().wait();
  strand.close();
  CHECK(finished);  // close returned only after the handler ended
  const int seen = later;
  strand.post([&] { ++later; });
  std::this_thread::sleep_for(100ms);
  CHECK(later == seen);
  CHECK(seen == 0);  // queued behind the running handler: dropped
}
