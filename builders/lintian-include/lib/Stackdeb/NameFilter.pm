# Lintian's own check, asked only about the files whose names can match one of its patterns.
#
# Some of lintian's checks match every file's name against dozens of patterns, compiling them
# again for each file; on a venv package of 10,000 to 24,000 files that is a third of lintian's
# time. Each of those patterns needs a fragment in the name (".js" or ".css", ".php"), so a file
# without it can get no tag from the check: it is not asked. Whether a file is tagged is still
# decided by lintian's own code. stackdeb passes this directory to lintian only when the stock
# checks are the ones this premise was read from (builders/tools/lintian.VERIFIED_SOURCES).
package Stackdeb::NameFilter;

use v5.20;
use warnings;

use constant STOCK_CHECKS => '/usr/share/lintian/lib/';

sub only_names {
    my ($class, $fragment) = @_;

    (my $relative = "$class.pm") =~ s{::}{/}g;
    require(STOCK_CHECKS . $relative);

    no strict 'refs';
    no warnings 'redefine';
    my $stock = \&{"${class}::visit_installed_files"};
    *{"${class}::visit_installed_files"} = sub {
        my ($self, $item) = @_;
        return unless $item->name =~ $fragment;
        return $stock->(@_);
    };
    return;
}

1;
