# Server integration tests: a real `khronika serve` on 127.0.0.1 (free port), driven by the real
# CLI, curl and a small OpenSSL client. Included from tests/integration/CMakeLists.txt, after
# khronika_integration_test() is defined. Including it twice is harmless.
include_guard(GLOBAL)

add_library(khronika_server_fixture STATIC ${CMAKE_CURRENT_SOURCE_DIR}/server_fixture.cc)
target_link_libraries(khronika_server_fixture PUBLIC khronika_test_support OpenSSL::SSL)

function(khronika_server_test name)
  khronika_integration_test(${name})
  target_link_libraries(${name} PRIVATE khronika_server_fixture)
endfunction()

# round trip, 300 MiB with bounded memory, Range, resumed upload
khronika_server_test(server_transfer_test)
# get into a folder: safe names for dotfiles and the like, no link followed, nothing overwritten
khronika_server_test(cli_get_test)
# roles and cases, revocation, no plaintext tokens on disk, access log
khronika_server_test(server_access_test)
# every bad input: status, JSON error, nothing written, verify clean
khronika_server_test(server_bad_input_test)
# 200 concurrent submissions, SIGTERM during a stream of submissions
khronika_server_test(server_concurrency_test)
# 431, 413 before the body, slow and idle clients cut off, connection cap
khronika_server_test(server_limits_test)
# printed fingerprint, wrong pin, TLS 1.3 only
khronika_server_test(server_tls_test)
# hundreds of idle TCP sockets from one address do not lock others out; handshakes hold at most
# part of the connection cap, and only until their deadline
khronika_server_test(server_handshake_test)
# peers that stall at each step: sync gives up within its deadline naming the peer, serve exits
# promptly on SIGTERM, a streamed download gives up too
khronika_server_test(peer_deadlines_test)
# three peered nodes: replication, a log outliving its origin, raided-node recovery, peer-only sync
khronika_server_test(federation_test)
khronika_server_test(federation_faults_test)
add_test(NAME netns_federation COMMAND bash ${PROJECT_SOURCE_DIR}/ops/netns-federation.sh $<TARGET_FILE:khronika>)
set_tests_properties(netns_federation PROPERTIES LABELS integration TIMEOUT 300)
# backup while serving; restore verifies in full before putting anything in place
khronika_server_test(backup_test)
