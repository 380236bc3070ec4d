# C2SP tlog-tiles (docs/api.md "Tiles"): real nodes over HTTPS read by an independent Python
# client (tests/integration/tlog_tiles_client.py), at 300 and 513 entries, a partner's replica
# with its cosignature, tiles_public, and refusals. Included from tests/integration/CMakeLists.txt.
include_guard(GLOBAL)
add_test(NAME tlog_tiles
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tlog_tiles_test.sh $<TARGET_FILE:khronika>)
set_tests_properties(tlog_tiles PROPERTIES LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
