# lintian's own check, asked only about names with ".php" in them (Stackdeb/NameFilter.pm).
package Lintian::Check::Languages::Php::Pear::Embedded;

use v5.20;
use warnings;

use Stackdeb::NameFilter;    # PERL5LIB has builders/lintian-include/lib (tools/lintian.py)

Stackdeb::NameFilter::only_names(__PACKAGE__, qr{\.php}i);

1;
