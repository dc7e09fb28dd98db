// Locks the compiler checks: Clang's thread-safety analysis (-Wthread-safety), the LevelDB and
// Abseil way. A lock's declaration says what it guards and each function what it needs:
//
//   mutable Mutex mu_;
//   std::vector<Range> ranges_ GUARDED_BY(mu_);   // read or written only with mu_ held
//   void Rewrite() REQUIRES(mu_);                 // caller holds mu_
//   void Add(Range r) EXCLUDES(mu_) { MutexLock l(mu_); ranges_.push_back(r); }
//
// std::mutex and std::shared_mutex carry no annotations in libstdc++, so the code takes these
// wrappers (Mutex, SharedMutex) with their scoped holders (MutexLock, ReaderLock, WriterLock);
// a condition variable waits on a MutexLock. With GCC every macro is empty and the wrappers are
// the std types. The clang build of scripts/test (build-clang/) turns the analysis on with
// -Wthread-safety -Werror; NO_THREAD_SAFETY_ANALYSIS marks the rare function the analysis cannot
// follow, with a comment saying why it is safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define PMEMFS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PMEMFS_THREAD_ANNOTATION(x)
#endif

// On a class: it is a lock ("mutex").
#define CAPABILITY(x) PMEMFS_THREAD_ANNOTATION(capability(x))
// On a class: an RAII holder of a lock.
#define SCOPED_CAPABILITY PMEMFS_THREAD_ANNOTATION(scoped_lockable)
// On a member: read or written only with the lock held (shared for reads of a shared lock).
#define GUARDED_BY(x) PMEMFS_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is guarded.
#define PT_GUARDED_BY(x) PMEMFS_THREAD_ANNOTATION(pt_guarded_by(x))
// On a lock: taken after (before) the given ones when both are held.
#define ACQUIRED_AFTER(...) PMEMFS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) PMEMFS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
// On a function: the caller holds the locks (exclusively; shared).
#define REQUIRES(...) PMEMFS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) PMEMFS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: takes (releases) the locks and returns holding them (without them).
#define ACQUIRE(...) PMEMFS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) PMEMFS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) PMEMFS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) PMEMFS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) PMEMFS_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) PMEMFS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
// On a function: the caller must not hold the locks (the function takes them).
#define EXCLUDES(...) PMEMFS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// On a function: checks at run time that the lock is held, and tells the analysis so.
#define ASSERT_CAPABILITY(x) PMEMFS_THREAD_ANNOTATION(assert_capability(x))
// On a function: returns (a reference to) this lock.
#define RETURN_CAPABILITY(x) PMEMFS_THREAD_ANNOTATION(lock_returned(x))
// On a function: not analysed (say why in a comment).
#define NO_THREAD_SAFETY_ANALYSIS PMEMFS_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace pmemfs {

// std::mutex, annotated. Satisfies Lockable (std::lock_guard, std::scoped_lock work, unchecked).
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // For code the analysis cannot follow (a lock taken by a caller it cannot see).
  void AssertHeld() const ASSERT_CAPABILITY(this) {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// std::shared_mutex, annotated.
class CAPABILITY("mutex") SharedMutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  void lock_shared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex for its scope (std::unique_lock underneath, so a condition variable can wait on
// it). Unlock()/Lock() release and retake it within the scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }

  // cv.wait(lock) / wait_for / wait_until on the held mutex: the lock is released while waiting
  // and held again on return, as the analysis assumes.
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  template <typename Pred>
  void Wait(std::condition_variable& cv, Pred pred) {
    cv.wait(lock_, pred);
  }
  template <typename Rep, typename Period>
  std::cv_status WaitFor(std::condition_variable& cv, std::chrono::duration<Rep, Period> d) {
    return cv.wait_for(lock_, d);
  }
  template <typename Rep, typename Period, typename Pred>
  bool WaitFor(std::condition_variable& cv, std::chrono::duration<Rep, Period> d, Pred pred) {
    return cv.wait_for(lock_, d, pred);
  }
  template <typename Clock, typename Duration>
  std::cv_status WaitUntil(std::condition_variable& cv,
                           std::chrono::time_point<Clock, Duration> t) {
    return cv.wait_until(lock_, t);
  }
  template <typename Clock, typename Duration, typename Pred>
  bool WaitUntil(std::condition_variable& cv, std::chrono::time_point<Clock, Duration> t,
                 Pred pred) {
    return cv.wait_until(lock_, t, pred);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

// Holds a SharedMutex exclusively (WriterLock) or shared (ReaderLock) for its scope.
class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() RELEASE_GENERIC() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace pmemfs
