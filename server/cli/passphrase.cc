#include "passphrase.h"

#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "khronika/store/files.h"

namespace khronika::cli {
namespace {

constexpr size_t kMaxPassphrase = 1024;

std::string StripNewline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

Result<std::string> ReadLineFromFd(int fd) {
  std::string line;
  char c;
  while (line.size() <= kMaxPassphrase) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("cannot read the passphrase");
    if (n == 0 || c == '\n') break;
    line.push_back(c);
  }
  if (line.size() > kMaxPassphrase) return Status::InvalidArgument("the passphrase is too long");
  return StripNewline(line);
}

Result<std::string> AskTerminal(const std::string& prompt) {
  int tty = STDIN_FILENO;
  termios old{};
  if (::tcgetattr(tty, &old) != 0) return ErrnoStatus("cannot read the terminal");
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::cerr << prompt << ": " << std::flush;
  ::tcsetattr(tty, TCSAFLUSH, &quiet);
  auto line = ReadLineFromFd(tty);
  ::tcsetattr(tty, TCSAFLUSH, &old);
  std::cerr << "\n";
  return line;
}

}  // namespace

Result<std::string> ReadPassphrase(const Args& args, const std::string& prompt, bool confirm,
                                   const std::string& fd_option) {
  std::string passphrase;
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  if (auto fd_text = args.Get(fd_option)) {
    char* end = nullptr;
    long fd = std::strtol(fd_text->c_str(), &end, 10);
    if (end == fd_text->c_str() || *end != 0 || fd < 0 || fd > 1 << 20) {
      return Status::InvalidArgument("usage: --" + fd_option + " takes a file descriptor number");
    }
    KH_ASSIGN_OR_RETURN(passphrase, ReadLineFromFd(static_cast<int>(fd)));
  } else if (fd_option == "passphrase-fd" && creds &&
             std::filesystem::exists(std::filesystem::path(creds) / "khronika-passphrase")) {
    KH_ASSIGN_OR_RETURN(std::string text,
                        ReadSmallFile(std::filesystem::path(creds) / "khronika-passphrase", kMaxPassphrase));
    passphrase = StripNewline(text);
  } else if (::isatty(STDIN_FILENO)) {
    KH_ASSIGN_OR_RETURN(passphrase, AskTerminal(prompt));
    if (confirm) {
      KH_ASSIGN_OR_RETURN(std::string again, AskTerminal("the same passphrase again"));
      if (again != passphrase) return Status::InvalidArgument("the two passphrases differ");
    }
  } else {
    return Status::InvalidArgument(
        "usage: no terminal to ask for the passphrase: give --" + fd_option + " N");
  }
  if (passphrase.empty()) return Status::InvalidArgument("the passphrase is empty");
  if (confirm && passphrase.size() < 12) {
    return Status::InvalidArgument("choose a passphrase of at least 12 characters (several words are easiest)");
  }
  return passphrase;
}

}  // namespace khronika::cli
