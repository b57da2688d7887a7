# file(1)'s verdicts kept by the bytes they were given, for every lintian run to reuse.
#
# lintian asks file(1) about every file of a package, about a quarter of its time on a venv
# package, and the venv packages of one release share three files in four (the same oslo,
# SQLAlchemy and friends in each). file(1) judges a file by its bytes alone; lintian then adjusts
# the verdict by name only for *.gz and *.tfm, which are never kept. So a verdict is kept by the
# file's SHA-256, in the directory $STACKDEB_FILE_TYPES (one per file and magic version, chosen
# by stackdeb), and lintian's own add_file_types runs on the files not seen before.
#
# Loaded with PERL5OPT=-MStackdeb::FileTypes; it wraps lintian's method once lintian's own
# modules are compiled (INIT), and does nothing in any other program.
package Stackdeb::FileTypes;

use v5.20;
use warnings;

use Digest::SHA;
use File::Temp qw(tempfile);
use IO::Handle;

my $NEVER_KEPT = qr{\.(?:gz|tfm)$}i;

INIT {
    my $dir = $ENV{STACKDEB_FILE_TYPES};
    wrap($dir) if length $dir && defined &Lintian::Index::add_file_types;
}

sub wrap {
    my ($dir) = @_;
    my $stock = \&Lintian::Index::add_file_types;
    no warnings 'redefine';
    *Lintian::Index::add_file_types = sub {
        my ($index) = @_;
        my $known = read_kept($dir);
        my (@unknown, %digests);
        for my $item (grep { $_->is_file } @{$index->sorted_list}) {
            my $digest = $item->name =~ $NEVER_KEPT ? undef : digest_of($index->basedir . '/' . $item->name);
            if (defined $digest && exists $known->{$digest}) {
                $item->file_type($known->{$digest});
            } else {
                push(@unknown, $item);
                $digests{$item->name} = $digest if defined $digest;
            }
        }
        my $errors;
        {
            no warnings 'once';
            local *Lintian::Index::sorted_list = sub { \@unknown };
            $errors = $stock->($index);
        }
        keep($dir, { map { $digests{$_->name} => $_->file_type }
                     grep { defined $digests{$_->name} && defined $_->file_type } @unknown });
        return $errors;
    };
    return;
}

sub digest_of {
    my ($path) = @_;
    my $sha = Digest::SHA->new(256);
    return eval { $sha->addfile($path, 'b'); $sha->hexdigest };
}

# Records are "<sha256>\0<file type>\0"; each run adds one file of the verdicts it made. A
# file that does not end a record (cut short) is not read at all.
sub read_kept {
    my ($dir) = @_;
    my %known;
    for my $path (glob("$dir/*.types")) {
        open(my $in, '<:raw', $path) or next;
        my $records = do { local $/ = undef; <$in> } // '';
        close($in);
        my @fields = split(/\0/, $records);
        next unless $records =~ /\0\z/ && @fields % 2 == 0;
        while (my ($digest, $type) = splice(@fields, 0, 2)) {
            $known{$digest} = $type if $digest =~ /\A[0-9a-f]{64}\z/;
        }
    }
    return \%known;
}

sub keep {
    my ($dir, $verdicts) = @_;
    return unless %{$verdicts};
    my ($out, $partial) = tempfile('.partial-XXXXXXXX', DIR => $dir);
    binmode($out);
    print {$out} map { "$_\0$verdicts->{$_}\0" } sort keys %{$verdicts};
    $out->sync;
    close($out) or die "cannot write $partial: $!";
    rename($partial, $partial =~ s{/\.partial-(\w+)$}{/$1.types}r) or die "cannot keep $partial: $!";
    return;
}

1;
