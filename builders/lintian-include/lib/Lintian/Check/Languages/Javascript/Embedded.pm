# lintian's own check, asked only about names with ".js" or ".css" in them (Stackdeb/NameFilter.pm).
package Lintian::Check::Languages::Javascript::Embedded;

use v5.20;
use warnings;

use File::Basename qw(dirname);

require(dirname(__FILE__) . '/../../../../Stackdeb/NameFilter.pm');
Stackdeb::NameFilter::only_names(__PACKAGE__, qr{\.(?:js|css)}i);

1;
