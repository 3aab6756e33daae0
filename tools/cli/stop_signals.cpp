#include "cli/stop_signals.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "io/atomic_output.h"

namespace tweedie::cli {
namespace {

volatile sig_atomic_t g_stop_signal = 0;
std::atomic<std::int64_t> g_first_signal_ns{0};

std::int64_t monotonic_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe
  return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// Removes unfinished outputs, then dies by the signal with its default action (exit status 128 + signal
// to the shell, as if nothing had been caught).
[[noreturn]] void die_by(int signal) {
  remove_unfinished_outputs();
  ::signal(signal, SIG_DFL);
  ::raise(signal);
  _exit(128 + signal);  // not reached unless the signal is blocked
}

extern "C" void exit_on_signal(int signal) { die_by(signal); }

extern "C" void stop_on_signal(int signal) {
  const std::int64_t now = monotonic_ns();
  if (g_stop_signal == 0) {
    g_first_signal_ns = now;
    g_stop_signal = signal;
  } else if (now - g_first_signal_ns > 1000000000) {
    die_by(signal);
  }
}

void handle(int signal, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal, &action, nullptr);
}

}  // namespace

void install_exit_on_signal() {
  handle(SIGINT, exit_on_signal);
  handle(SIGTERM, exit_on_signal);
}

StopSignals::StopSignals() {
  g_stop_signal = 0;
  handle(SIGINT, stop_on_signal);
  handle(SIGTERM, stop_on_signal);
}

StopSignals::~StopSignals() { install_exit_on_signal(); }

int StopSignals::requested() const { return g_stop_signal; }

const char* stop_word(int signal) { return signal == SIGTERM ? "terminated" : "interrupted"; }

}  // namespace tweedie::cli
