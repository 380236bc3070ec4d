# A verifier written only from docs/format.md and docs/format-2.md (python3 + openssl, and
# python3-cryptography to open what the origin sealed) checks a node built by the
# real binary, and must notice tampering. Included from tests/integration/CMakeLists.txt.
add_test(NAME independent_verify COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/independent_verify_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(independent_verify PROPERTIES LABELS integration TIMEOUT 300)

# Format 2 (docs/format-2.md), read by an independent Python implementation: a sealed entry, its
# chunks, a record and a 2-of-3 recovery made by schemas/ check byte for byte; with one sealed
# chunk altered, the check fails.
add_executable(format2_vectors format2_vectors.cc)
target_link_libraries(format2_vectors PRIVATE khronika_schemas nlohmann_json::nlohmann_json)
add_test(NAME format2_independent
         COMMAND bash -c "set -o pipefail; \"$0\" | python3 \"$1\""
                 $<TARGET_FILE:format2_vectors> ${CMAKE_CURRENT_SOURCE_DIR}/format2_independent.py)
add_test(NAME format2_independent_refuses_a_tampered_chunk
         COMMAND bash -c "\"$0\" tamper | python3 \"$1\" | grep -q 'FAIL: file 2: sealed chunk 0 hash'"
                 $<TARGET_FILE:format2_vectors> ${CMAKE_CURRENT_SOURCE_DIR}/format2_independent.py)
set_tests_properties(format2_independent format2_independent_refuses_a_tampered_chunk
                     PROPERTIES LABELS integration TIMEOUT 120)

# The golden vectors of format 2 (tests/golden), rebuilt from their fixed inputs by Python: the
# sealed files are sealed again there and must give the chunk ids the golden sealed entry lists.
add_test(NAME format2_golden
         COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/format2_golden.py ${PROJECT_SOURCE_DIR}/tests/golden)
set_tests_properties(format2_golden PROPERTIES LABELS integration TIMEOUT 60)
