#include <sluice/core/owned_event.hpp>

#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_ASAN 1
#endif
#endif
#if defined(SLUICE_ASAN)
#include <sanitizer/asan_interface.h>
#define SLUICE_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SLUICE_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SLUICE_POISON(p, n) ((void)(p), (void)(n))
#define SLUICE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace sluice::core {

// The head of a make_many block; the events follow, each a Header, its attributes and its text,
// each starting at a multiple of alignof(Header).
struct EventPtr::Block {
  std::atomic<uint32_t> live{0};  // events of the block not yet released
  size_t capacity = 0;            // bytes of the allocation, this head included
};

namespace {

size_t str_bytes(sluice_str s) {
  return s.data ? s.size : 0;
}

bool skipped(const sluice_attribute& a, std::string_view key) {
  return !key.empty() && a.key.data && std::string_view(a.key.data, a.key.size) == key;
}

// Copies strings one after the other to a cursor, each returned as its copy (absent stays
// absent, empty stays empty). Strings that lie one right after the other in the source (as a
// plugin's PackedEvents lays out the fields of an event: id, source, type, subject, attributes,
// data) are copied together in one memcpy, when the run ends: an HMC notification's 37 strings
// take one or two copies instead of 37.
class Copier {
 public:
  explicit Copier(char* cursor) : cursor_(cursor) {}
  sluice_str put(sluice_str s) {
    if (!s.data) return sluice_str{nullptr, 0};
    char* at = cursor_;
    if (s.size == 0) return sluice_str{at, 0};
    if (s.data != run_src_ + run_len_) {
      flush();
      run_src_ = s.data;
      run_dst_ = at;
    }
    run_len_ += s.size;
    cursor_ += s.size;
    return sluice_str{at, s.size};
  }
  // Copies what is pending; returns where the next byte goes.
  char* flush() {
    if (run_len_) memcpy(run_dst_, run_src_, run_len_);
    run_src_ = nullptr;
    run_len_ = 0;
    return cursor_;
  }
  void skip(size_t n) { cursor_ += n; }

 private:
  char* cursor_;
  const char* run_src_ = nullptr;
  char* run_dst_ = nullptr;
  size_t run_len_ = 0;
};

// Bytes after the header of the copy of `p` (attributes, text, the closing NUL), and its
// attribute count.
size_t body_bytes(const EventParts& p, size_t* attribute_count) {
  size_t attrs = p.extra_attribute_count;
  size_t text = str_bytes(p.id) + str_bytes(p.source) + str_bytes(p.type) + str_bytes(p.subject) +
                str_bytes(p.data);
  for (size_t i = 0; i < p.attribute_count; ++i) {
    if (skipped(p.attributes[i], p.skip_key)) continue;
    ++attrs;
    text += str_bytes(p.attributes[i].key) + str_bytes(p.attributes[i].value);
  }
  for (size_t i = 0; i < p.extra_attribute_count; ++i)
    text += str_bytes(p.extra_attributes[i].key) + str_bytes(p.extra_attributes[i].value);
  *attribute_count = attrs;
  // One NUL after the data: data is then NUL-terminated, which the JSON check relies on.
  return attrs * sizeof(sluice_attribute) + text + 1;
}

// Fills the event at `e` from `p`: `attr_array` has room for `attrs` attributes, and the text
// follows it: the event's own strings in field order, data last and followed by a NUL, then the
// extra attributes' text (the host's, from elsewhere in memory).
void fill(const EventParts& p, sluice_event& e, sluice_attribute* attr_array, size_t attrs) {
  Copier c(reinterpret_cast<char*>(attr_array + attrs));
  e.struct_size = sizeof(sluice_event);
  e.id = c.put(p.id);
  e.source = c.put(p.source);
  e.type = c.put(p.type);
  e.subject = c.put(p.subject);
  e.time_unix_ns = p.time_unix_ns;
  size_t n = 0;
  for (size_t i = 0; i < p.attribute_count; ++i) {
    if (skipped(p.attributes[i], p.skip_key)) continue;
    attr_array[n].key = c.put(p.attributes[i].key);
    attr_array[n].value = c.put(p.attributes[i].value);
    ++n;
  }
  e.data = c.put(p.data);
  *c.flush() = '\0';
  c.skip(1);
  for (size_t i = 0; i < p.extra_attribute_count; ++i, ++n) {
    attr_array[n].key = c.put(p.extra_attributes[i].key);
    attr_array[n].value = c.put(p.extra_attributes[i].value);
  }
  c.flush();
  e.attributes = attrs ? attr_array : nullptr;
  e.attribute_count = attrs;
}

uint32_t clamp32(size_t n) {
  return static_cast<uint32_t>(n > UINT32_MAX ? UINT32_MAX : n);
}

// The memory of make_many blocks, kept for the next blocks instead of going back to malloc.
//
// Why: a block is allocated by the emitting thread (a plugin's emitter) and freed by another
// (a sink's dispatcher, once the batch is delivered). Given back to malloc, a block of a few
// hundred KiB is returned to the kernel (the arena's top trimmed, or munmap for mmapped chunks)
// and the next one faults its pages in again: on the development VM every page fault costs a
// hypervisor exit, and these were most of the daemon's page faults. Kept here, the pages stay
// mapped and warm, whichever thread frees and allocates.
//
// Sizes are rounded up to classes of 2^k and 3 * 2^(k-1) bytes (at most a third unused), and a
// block is reused only for a request of the same class. Blocks below kMinPooled go to malloc
// directly (its per-thread caches serve small sizes well). At most kMaxBlocks blocks and
// kMaxBytes bytes are kept; more is freed. The pool lives as long as the process.
class BlockPool {
 public:
  static constexpr size_t kMinPooled = 4096;
  static constexpr size_t kMaxBlocks = 64;
  static constexpr size_t kMaxBytes = 32u << 20;

  static BlockPool& get() {
    static BlockPool* pool = new BlockPool;  // never destroyed: blocks may outlive main()
    return *pool;
  }

  static size_t size_class(size_t n) {
    if (n < kMinPooled) return n;
    const size_t p = std::bit_ceil(n);
    return n <= p / 2 + p / 4 ? p / 2 + p / 4 : p;
  }

  // Memory for a block of `size` bytes; `*capacity` is what it holds.
  void* take(size_t size, size_t* capacity) {
    const size_t c = size_class(size);
    *capacity = c;
    if (c >= kMinPooled) {
      std::lock_guard lock(m_);
      for (size_t i = free_.size(); i-- > 0;) {  // the last given back first: its pages are warm
        if (free_[i].capacity != c) continue;
        void* p = free_[i].memory;
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
        bytes_ -= c;
        SLUICE_UNPOISON(p, c);
        return p;
      }
    }
    return ::operator new(c);
  }

  void give(void* memory, size_t capacity) noexcept {
    if (capacity >= kMinPooled) {
      std::lock_guard lock(m_);
      if (free_.size() < kMaxBlocks && bytes_ + capacity <= kMaxBytes) {
        free_.push_back({memory, capacity});  // reserved: cannot throw
        bytes_ += capacity;
        // Under ASan, a read of a released event in a kept block is still an error.
        SLUICE_POISON(memory, capacity);
        return;
      }
    }
    ::operator delete(memory);
  }

 private:
  BlockPool() { free_.reserve(kMaxBlocks); }
  struct Free {
    void* memory;
    size_t capacity;
  };
  std::mutex m_;
  std::vector<Free> free_;  // (m_)
  size_t bytes_ = 0;        // (m_) the capacity of free_
};

}  // namespace

EventPtr EventPtr::make(const EventParts& p) {
  size_t attrs = 0;
  const size_t total = sizeof(Header) + body_bytes(p, &attrs);
  void* raw = ::operator new(total);
  auto* h = new (raw) Header;
  h->bytes = clamp32(total);
  fill(p, h->event, reinterpret_cast<sluice_attribute*>(h + 1), attrs);
  return EventPtr(h);
}

void EventPtr::make_many(const EventParts* parts, size_t count, EventPtr* out) {
  if (count == 0) return;
  if (count == 1) {
    out[0] = make(parts[0]);
    return;
  }
  static_assert(sizeof(Block) % alignof(Header) == 0 && alignof(Block) <= alignof(Header));
  static_assert(sizeof(Header) % alignof(sluice_attribute) == 0);
  constexpr size_t kAlign = alignof(Header);
  auto padded = [](size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); };
  // Each event's size and attribute count, measured once (the fill below needs both again).
  thread_local std::vector<std::pair<size_t, size_t>> sizes;
  sizes.resize(count);
  size_t total = sizeof(Block);
  for (size_t i = 0; i < count; ++i) {
    size_t attrs = 0;
    const size_t bytes = padded(sizeof(Header) + body_bytes(parts[i], &attrs));
    sizes[i] = {bytes, attrs};
    total += bytes;
  }
  size_t capacity = 0;
  void* raw = BlockPool::get().take(total, &capacity);  // the one thing that can throw
  auto* block = new (raw) Block;
  block->capacity = capacity;
  block->live.store(static_cast<uint32_t>(count), std::memory_order_relaxed);
  char* at = static_cast<char*>(raw) + sizeof(Block);
  for (size_t i = 0; i < count; ++i) {
    const auto [bytes, attrs] = sizes[i];
    auto* h = new (at) Header;
    h->bytes = clamp32(bytes);
    h->block = block;
    fill(parts[i], h->event, reinterpret_cast<sluice_attribute*>(h + 1), attrs);
    out[i] = EventPtr(h);
    at += bytes;
  }
}

void EventPtr::destroy(Header* h) {
  Block* block = h->block;
  h->~Header();
  if (!block) {
    ::operator delete(static_cast<void*>(h));
    return;
  }
  if (block->live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const size_t capacity = block->capacity;
  block->~Block();
  BlockPool::get().give(block, capacity);
}

}  // namespace sluice::core
