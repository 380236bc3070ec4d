// RAII for LMDB's C handles and the one place LMDB return codes become Status.
// Private to the store.
#pragma once

#include <lmdb.h>

#include <string>
#include <utility>

#include "khronika/schemas/status.h"

namespace khronika::lmdb {

// Translates an LMDB or errno return code. `what` names the operation.
Status ToStatus(int rc, const char* what);

class Env {
 public:
  Env() = default;
  explicit Env(MDB_env* env) : env_(env) {}
  Env(Env&& o) noexcept : env_(std::exchange(o.env_, nullptr)) {}
  Env& operator=(Env&& o) noexcept {
    if (this != &o) {
      reset();
      env_ = std::exchange(o.env_, nullptr);
    }
    return *this;
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() { reset(); }
  MDB_env* get() const { return env_; }

 private:
  void reset() {
    if (env_) mdb_env_close(env_);
    env_ = nullptr;
  }
  MDB_env* env_ = nullptr;
};

// A transaction that aborts in its destructor unless Commit() succeeded.
class Txn {
 public:
  static Result<Txn> Begin(MDB_env* env, bool read_only) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn);
    if (rc != MDB_SUCCESS) return ToStatus(rc, "begin transaction");
    return Txn(txn);
  }
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() {
    if (txn_) mdb_txn_abort(txn_);
  }
  MDB_txn* get() const { return txn_; }
  Status Commit() {
    // mdb_txn_commit frees the transaction whatever it returns.
    int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
    return rc == MDB_SUCCESS ? Status::Ok() : ToStatus(rc, "commit");
  }

 private:
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  static Result<Cursor> Open(MDB_txn* txn, MDB_dbi dbi) {
    MDB_cursor* c = nullptr;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != MDB_SUCCESS) return ToStatus(rc, "open cursor");
    return Cursor(c);
  }
  Cursor(Cursor&& o) noexcept : cursor_(std::exchange(o.cursor_, nullptr)) {}
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_) mdb_cursor_close(cursor_);
  }
  MDB_cursor* get() const { return cursor_; }

 private:
  explicit Cursor(MDB_cursor* c) : cursor_(c) {}
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace khronika::lmdb
