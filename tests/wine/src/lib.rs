//! capdeck.exe under Wine: the checks are `tests/windows_exe.rs`, run by
//! `.ci/windows-wine.sh` (which builds the exe and sets CAPDECK_TEST_EXE); `make test`
//! leaves this package out.
