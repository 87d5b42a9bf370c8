#!/usr/bin/perl
# policy-client.pl - well-behaved and hostile clients of the Postfix policy
# protocol, for tests/e2e/hostile.sh. Perl because it is on every Debian
# system (swaks needs it) and holds a thousand sockets without fuss.
#
# usage: policy-client.pl MODE ENDPOINT [ARGS]
#   ENDPOINT   HOST:PORT or /path/to/unix/socket
#   MODE
#     good N PORT25 PORT587 [PAUSE_MS]
#                N requests on one persistent connection, cycling through
#                four cases whose answers are known (relay from off-net,
#                relay from 127.0.0.1, 587 without and with AUTH); each
#                answer must be exactly the expected action. Prints
#                "good: answered A/N correct C/N" and exits 0 only if all
#                were answered correctly.
#     drip PORT25 DELAY_MS
#                one request (relay from off-net) written a byte at a time;
#                the answer must still be the right one
#     longline BYTES
#                an attribute line of BYTES bytes that never ends; expects
#                the connection closed with no reply
#     nul        a request with a NUL byte in a value; expects close, no reply
#     attrs N    a request with N attributes; expects close, no reply
#     halfclose-complete PORT25
#                a complete request, then shutdown(SHUT_WR): the answer must
#                still arrive, then EOF
#     halfclose-partial
#                half a request, then shutdown(SHUT_WR): close, no reply
#     pipeline N PORT25 PORT587
#                N requests written at once, then N replies read: each must
#                be the right one, in order
#     flood SECS PORT25
#                write requests for SECS seconds without reading a single
#                reply (the socket fills up), then close; prints how many
#                bytes the daemon accepted. Exit 0 unless connect fails.
#     idle N FILE
#                open N connections, write "opened N" to FILE, then wait for
#                a line on stdin; then check that every connection is still
#                open (no EOF, no error) and print "idle: open K/N"
# Exit status 0 means the expectation held; the reason is printed otherwise.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SHUT_WR);
use Time::HiRes qw(usleep);
use Errno qw(EAGAIN EWOULDBLOCK);

my $READ_TIMEOUT = 15;    # seconds; generous, this is not a timing test

sub usage { die "usage: policy-client.pl MODE ENDPOINT [ARGS]\n" }

sub connect_to {
    my ($ep) = @_;
    my $s;
    if ($ep =~ m{^/}) {
        $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ep);
    } else {
        $s = IO::Socket::INET->new(PeerAddr => $ep, Proto => 'tcp');
    }
    die "connect $ep: $!\n" unless $s;
    $s->autoflush(1);
    return $s;
}

# A request as Postfix 3.7 sends it: all 29 attributes, in its order.
sub request {
    my (%o) = @_;
    my @a = (
        request => 'smtpd_access_policy',
        protocol_state => $o{state} // 'RCPT',
        protocol_name => 'ESMTP',
        client_address => $o{client} // '192.0.2.10',
        client_name => 'unknown',
        client_port => $o{cport} // 40000 + int(rand(20000)),
        reverse_client_name => 'unknown',
        server_address => '127.0.0.1',
        server_port => $o{port},
        helo_name => 'client.example.test',
        sender => $o{sender} // 'sender@remote.example',
        recipient => $o{rcpt} // 'someone@remote.example',
        recipient_count => 0,
        queue_id => '',
        instance => sprintf('%x.%x.%x.0', $$, time, int(rand(1 << 20))),
        size => 0,
        etrn_domain => '',
        stress => '',
        sasl_method => $o{user} ? 'PLAIN' : '',
        sasl_username => $o{user} // '',
        sasl_sender => '',
        ccert_subject => '',
        ccert_issuer => '',
        ccert_fingerprint => '',
        ccert_pubkey_fingerprint => '',
        encryption_protocol => $o{tls} ? 'TLSv1.3' : '',
        encryption_cipher => $o{tls} ? 'TLS_AES_256_GCM_SHA384' : '',
        encryption_keysize => $o{tls} ? 256 : 0,
        policy_context => $o{context} // '',
    );
    my $r = '';
    while (my ($k, $v) = splice(@a, 0, 2)) { $r .= "$k=$v\n" }
    return "$r\n";
}

# Read one reply (up to the empty line); bytes after it stay buffered for
# the next call. Returns the reply, '' on EOF before any byte, undef on
# timeout.
my %pending;
sub read_reply {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $buf = $pending{$s} // '';
    while ($buf !~ /\n\n/) {
        unless ($sel->can_read($READ_TIMEOUT)) { $pending{$s} = $buf; return undef }
        my $n = sysread($s, $buf, 4096, length $buf);
        if (!defined $n || $n == 0) { $pending{$s} = ''; return $buf }
    }
    my $i = index($buf, "\n\n") + 2;
    $pending{$s} = substr($buf, $i);
    return substr($buf, 0, $i);
}

# After a protocol violation: the server must close without sending a byte.
sub expect_closed_silently {
    my ($s, $what) = @_;
    my $got = read_reply($s);
    if (!defined $got) { print "$what: connection still open after ${READ_TIMEOUT}s\n"; exit 1 }
    if ($got ne '') { (my $g = $got) =~ s/\n/\\n/g; print "$what: got reply '$g', want close without reply\n"; exit 1 }
    print "$what: closed without reply\n";
    exit 0;
}

sub cases {
    my ($p25, $p587) = @_;
    return (
        [request(port => $p25, client => '192.0.2.10'), 'action=554 5.7.1 Relay access denied'],
        [request(port => $p25, client => '127.0.0.1'), 'action=DUNNO'],
        [request(port => $p587, context => 'submission', tls => 1), 'action=530 5.7.0 Authentication required'],
        [request(port => $p587, context => 'submission', tls => 1, user => 'alice'), 'action=DUNNO'],
    );
}

my $mode = shift // usage();
my $ep = shift // usage();

if ($mode eq 'good') {
    my ($n, $p25, $p587, $pause) = @ARGV;
    usage() unless $p587;
    my @c = cases($p25, $p587);
    my $s = connect_to($ep);
    my ($answered, $correct) = (0, 0);
    for my $i (0 .. $n - 1) {
        my ($req, $want) = @{ $c[$i % @c] };
        print $s $req;
        my $got = read_reply($s);
        last unless defined $got && $got ne '';
        $answered++;
        $got =~ s/\n\n$//;
        if ($got eq $want) { $correct++ } else { print "good: request $i: got '$got', want '$want'\n" }
        usleep($pause * 1000) if $pause;
    }
    print "good: answered $answered/$n correct $correct/$n\n";
    exit($correct == $n ? 0 : 1);
} elsif ($mode eq 'pipeline') {
    my ($n, $p25, $p587) = @ARGV;
    usage() unless $p587;
    my @c = cases($p25, $p587);
    my $s = connect_to($ep);
    my $all = join('', map { $c[$_ % @c][0] } 0 .. $n - 1);
    print $s $all;
    my ($answered, $correct) = (0, 0);
    for my $i (0 .. $n - 1) {
        my $got = read_reply($s);
        last unless defined $got && $got ne '';
        $answered++;
        $got =~ s/\n\n$//;
        my $want = $c[$i % @c][1];
        if ($got eq $want) { $correct++ } else { print "pipeline: reply $i: got '$got', want '$want'\n" }
    }
    print "pipeline: $n requests in one write, answered $answered/$n in order and correct $correct/$n\n";
    exit($correct == $n ? 0 : 1);
} elsif ($mode eq 'flood') {
    my ($secs, $p25) = @ARGV;
    my $s = connect_to($ep);
    local $SIG{PIPE} = 'IGNORE';
    $s->blocking(0);
    my $req = request(port => $p25, client => '192.0.2.66');
    my ($sent, $off) = (0, 0);
    my $end = time + $secs;
    while (time < $end) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        if (!defined $n) {
            last unless $! == EAGAIN || $! == EWOULDBLOCK;
            usleep(10_000);
            next;
        }
        $sent += $n;
        $off = ($off + $n) % length $req;
    }
    close $s;
    print "flood: wrote $sent bytes in ${secs}s without reading a reply\n";
    exit 0;
} elsif ($mode eq 'drip') {
    my ($p25, $delay) = @ARGV;
    my $s = connect_to($ep);
    my $req = request(port => $p25, client => '192.0.2.99');
    for my $byte (split //, $req) {
        print $s $byte;
        usleep($delay * 1000);
    }
    my $got = read_reply($s) // '<timeout>';
    $got =~ s/\n\n$//;
    my $want = 'action=554 5.7.1 Relay access denied';
    print "drip: " . length($req) . " bytes one at a time, got '$got'\n";
    exit($got eq $want ? 0 : 1);
} elsif ($mode eq 'longline') {
    my ($bytes) = @ARGV;
    my $s = connect_to($ep);
    local $SIG{PIPE} = 'IGNORE';
    # The daemon may close while we are still writing: that is the point.
    my $line = 'ccert_subject=' . ('A' x ($bytes - 14));
    my $off = 0;
    while ($off < length $line) {
        my $n = syswrite($s, $line, 8192, $off);
        last unless defined $n;
        $off += $n;
    }
    expect_closed_silently($s, "longline ($bytes bytes, no newline)");
} elsif ($mode eq 'nul') {
    my $s = connect_to($ep);
    my $req = request(port => 25);
    $req =~ s/helo_name=client/helo_name=cli\0ent/;
    print $s $req;
    expect_closed_silently($s, 'nul');
} elsif ($mode eq 'attrs') {
    my ($n) = @ARGV;
    my $s = connect_to($ep);
    local $SIG{PIPE} = 'IGNORE';
    my $req = join('', map { "x_attr_$_=v\n" } 1 .. $n) . "\n";
    syswrite($s, $req);
    expect_closed_silently($s, "attrs ($n attributes)");
} elsif ($mode eq 'halfclose-complete') {
    my ($p25) = @ARGV;
    my $s = connect_to($ep);
    print $s request(port => $p25, client => '192.0.2.7');
    shutdown($s, SHUT_WR);
    my $got = read_reply($s) // '<timeout>';
    $got =~ s/\n\n$//;
    my $eof = read_reply($s);
    print "halfclose-complete: got '$got', then " . (defined $eof && $eof eq '' ? 'EOF' : 'no EOF') . "\n";
    exit($got eq 'action=554 5.7.1 Relay access denied' && defined $eof && $eof eq '' ? 0 : 1);
} elsif ($mode eq 'halfclose-partial') {
    my $s = connect_to($ep);
    print $s "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_addr";
    shutdown($s, SHUT_WR);
    expect_closed_silently($s, 'halfclose-partial');
} elsif ($mode eq 'idle') {
    my ($n, $file) = @ARGV;
    my @socks;
    for (1 .. $n) {
        my $s = eval { connect_to($ep) };
        unless ($s) { print "idle: connect failed after " . scalar(@socks) . ": $@"; exit 1 }
        push @socks, $s;
    }
    open(my $fh, '>', $file) or die "$file: $!\n";
    print $fh "opened $n\n";
    close $fh;
    <STDIN>;    # hold until the test says so
    my $open = 0;
    for my $s (@socks) {
        $s->blocking(0);
        my $n = sysread($s, my $b, 1);
        $open++ if !defined $n && ($! == EAGAIN || $! == EWOULDBLOCK);
    }
    print "idle: open $open/$n\n";
    exit($open == $n ? 0 : 1);
} else {
    usage();
}
