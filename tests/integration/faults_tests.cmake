# Fault integration tests: a seized disk, a full LMDB map, a full file system (tmpfs or a loop-mounted ext4,
# skipped where the machine forbids mounts), and the TLS the node speaks and accepts, checked
# with `openssl s_client` and `s_server`. Included from tests/integration/CMakeLists.txt after
# server_tests.cmake (it uses khronika_server_test). Including it twice is harmless.
include_guard(GLOBAL)

include(${CMAKE_CURRENT_LIST_DIR}/server_tests.cmake)

khronika_server_test(faults_test)
# Seizure: 1,000 canaries planted, the data directory and a raw loop-mounted ext4 image searched
# (encrypted: none found; the control in clear: all found).
khronika_server_test(seizure_test)
# What a stopped encrypted store shows to `mdb_dump`, checked row by row against
# docs/threat-model.md "A seized disk" (needs mdb_dump from lmdb-utils and openssl).
khronika_server_test(seizure_dump_test)
# What a partner learns of another member's evidence (docs/threat-model.md, "What a partner
# learns"): 1,000 canaries at A, searched for on B with B's keys unlocked (store, logs, git
# mirror, every API answer to every role and to a peer): none found.
khronika_server_test(canary_test)
