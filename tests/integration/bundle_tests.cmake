# Court bundle integration tests: the real `khronika export` and `verify-bundle` against real
# HTTPS servers on 127.0.0.1 (one node, or three federated nodes for cosignatures). Included from
# tests/integration/CMakeLists.txt after server_tests.cmake, which defines khronika_server_test().
include_guard(GLOBAL)

if(COMMAND khronika_server_test)
  # round trip (folder, .tar, local), custody in the access log, tampering named by file,
  # hostile file names and hostile archives, one file of five disclosed (also checked by
  # docs/tools/check_bundle.sh, found from the source tree)
  khronika_server_test(bundle_test)
  target_compile_definitions(bundle_test PRIVATE KHRONIKA_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
