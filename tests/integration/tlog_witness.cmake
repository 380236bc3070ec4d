# C2SP tlog-witness both ways (POST /add-checkpoint, `witness =` lines) against an independent
# Python client and witness. Included from tests/integration/CMakeLists.txt.
add_test(NAME tlog_witness
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tlog_witness_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(tlog_witness PROPERTIES LABELS integration TIMEOUT 300)
