/* A library the missing_dep plugin links against; the plugin is built without an rpath to it. */
int sluice_test_dependency_function(void) {
  return 7;
}
