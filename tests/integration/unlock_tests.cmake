# Unlocking and retiring keys: `khronika unlock` (an agent for a shell session) and
# `khronika passphrase change --rotate-data-key` (a new data key for the whole store), with the
# real binary, real processes and a real server. Included from tests/integration/CMakeLists.txt,
# after server_tests.cmake (khronika_server_test).
include_guard(GLOBAL)

# an old keyring no longer opens the store, everything is read back, a killed rotation recovers
khronika_server_test(key_rotation_test)

# khronika unlock / lock: one passphrase for a shell session, the agent's socket, memory and
# time limit, other users, stale and lying sockets
khronika_server_test(agent_test)
