# Unlocking and retiring keys: `khronika passphrase change --rotate-data-key` (a new data key for
# the whole store) with a real server. Included from tests/integration/CMakeLists.txt, after
# server_tests.cmake (khronika_server_test).
include_guard(GLOBAL)

# an old keyring no longer opens the store, everything is read back, a killed rotation recovers
khronika_server_test(key_rotation_test)
