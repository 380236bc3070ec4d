#include "lmdb_handles.h"

#include <cerrno>
#include <cstring>

namespace khronika::lmdb {

Status ToStatus(int rc, const char* what) {
  std::string where = std::string(what) + ": ";
  switch (rc) {
    case MDB_SUCCESS:
      return Status::Ok();
    case MDB_NOTFOUND:
      return Status::NotFound(where + "no such key");
    case MDB_KEYEXIST:
      return Status::AlreadyExists(where + "key already present");
    case MDB_MAP_FULL:
      return Status::StoreFull(where + "the LMDB map is full; raise --map-size");
    case ENOSPC:
    case EDQUOT:
      return Status::StoreFull(where + "no space left on the file system");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_BAD_TXN:
    case MDB_BAD_VALSIZE:
      return Status::Corruption(where + mdb_strerror(rc));
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(where + mdb_strerror(rc));
    default:
      return Status::IOError(where + mdb_strerror(rc));
  }
}

}  // namespace khronika::lmdb
