# Git mirror integration tests: the real khronika binary, stock git, and repositories in temporary
# directories. Included from tests/integration/CMakeLists.txt, after khronika_integration_test()
# is defined. Including it twice is harmless.
include_guard(GLOBAL)

# export, `git clone` and the sealed files opened by the origin rebuilt from its keys; no
# plaintext in any git object; verify, and a forged sealed file named; two nodes synced only
# through git
khronika_integration_test(mirror_test)
