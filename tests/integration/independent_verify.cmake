# A verifier written only from docs/format.md (python3 + openssl) checks a node built by the
# real binary, and must notice tampering. Included from tests/integration/CMakeLists.txt.
add_test(NAME independent_verify COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/independent_verify_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(independent_verify PROPERTIES LABELS integration TIMEOUT 300)
