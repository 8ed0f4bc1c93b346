# Assembles an extension script from its sources: prints each input file, replacing every line
# `#include "PATH"` by the file src/sql/PATH (recursively). One body per SQL function lives in
# src/sql/functions/ and reaches both the install script and the upgrade script that changes it.
#
# A fragment that C++ also compiles (src/sql/fragments/customer_stats.sql) is wrapped in the
# lines `R"sql(` and `)sql"`, which make it a raw string literal; they are dropped here.
#
#   awk -v root=src/sql -f scripts/assemble_sql.awk FILE... > customer_tracking--X.sql
function emit(file,    line, path, n) {
	n = 0
	while ((getline line < file) > 0) {
		n++
		if (line ~ /^#include "[^"]+"[ \t]*$/) {
			path = line
			sub(/^#include "/, "", path)
			sub(/"[ \t]*$/, "", path)
			emit(root "/" path)
		} else if (line == "R\"sql(" || line == ")sql\"") {
			continue
		} else {
			print line
		}
	}
	if (n == 0) {
		print "assemble_sql: cannot read " file > "/dev/stderr"
		failed = 1
	}
	close(file)
}
BEGIN {
	if (root == "") root = "src/sql"
	for (i = 1; i < ARGC; i++) emit(ARGV[i])
	exit failed
}
