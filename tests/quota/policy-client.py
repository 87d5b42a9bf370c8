#!/usr/bin/env python3
"""policy-client.py HOST PORT SERVER_PORT USER STEP... - talk the Postfix policy
protocol to portreeve-policyd as another mail host would, and print one
action per step. A STEP is "msg:N" (one transaction: N RCPTs, then
END-OF-MESSAGE with recipient_count N, under a fresh instance), "rcpt"
(one RCPT check of a new transaction, no commit) or "pipe:N" (N RCPTs of
one transaction sent in one write, pipelined, no commit; prints the first
words of the N replies, in the order they came, run-length encoded:
"DUNNO*20 DEFER_IF_PERMIT*40") or "badpipe" (one RCPT, then 50 ms later,
before its answer when the store is slow, a line that breaks the protocol;
prints the reply and "closed" when the daemon then hangs up without another
reply). Used by e2e-quota.sh for
the second daemon instance and the Sentinel test."""
import os
import socket
import sys
import time


def attrs_of(**kw):
    attrs = dict(request='smtpd_access_policy', protocol_state='RCPT', protocol_name='ESMTP',
                 client_address='192.0.2.10', client_name='mua.example', client_port='50000',
                 reverse_client_name='mua.example', server_address='127.0.0.1', server_port='587',
                 helo_name='mua.example', sender='sender@example.org',
                 recipient='someone@remote.example', recipient_count='0', queue_id='',
                 instance='', size='0', etrn_domain='', stress='', sasl_method='PLAIN',
                 sasl_username='', sasl_sender='', ccert_subject='', ccert_issuer='',
                 ccert_fingerprint='', ccert_pubkey_fingerprint='', encryption_protocol='TLSv1.3',
                 encryption_cipher='TLS_AES_256_GCM_SHA384', encryption_keysize='256',
                 policy_context='')
    attrs.update(kw)
    return (''.join('%s=%s\n' % kv for kv in attrs.items()) + '\n').encode()


def replies(sock, n):
    """The next n replies' actions, in order."""
    buf, out = b'', []
    while len(out) < n:
        while b'\n\n' not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit('connection closed by the daemon')
            buf += chunk
        one, buf = buf.split(b'\n\n', 1)
        out.append(one.decode().split('=', 1)[1])
    return out


def request(sock, **kw):
    sock.sendall(attrs_of(**kw))
    return replies(sock, 1)[0]


def main():
    host, port, sport, user = sys.argv[1:5]
    sock = socket.create_connection((host, int(port)), timeout=5)
    base = dict(server_port=sport, sasl_username=user,
                client_port=str(40000 + os.getpid() % 20000))
    for n, step in enumerate(sys.argv[5:]):
        instance = '%x.%x.%x.0' % (os.getpid(), n, abs(hash(step)) % 65536)
        if step.startswith('pipe:'):
            n_req = int(step.split(':')[1])
            sock.sendall(b''.join(attrs_of(instance=instance, sender='p%d@example.org' % n, **base)
                                  for _ in range(n_req)))
            runs = []
            for a in replies(sock, n_req):
                word = a.split()[0]
                if runs and runs[-1][0] == word:
                    runs[-1][1] += 1
                else:
                    runs.append([word, 1])
            print(' '.join('%s*%d' % (w, c) for w, c in runs))
            continue
        if step == 'badpipe':
            sock.sendall(attrs_of(sender='b%d@example.org' % n, **base))
            time.sleep(0.05)
            sock.sendall(b'no equals sign\n\n')
            action = replies(sock, 1)[0]
            rest = sock.recv(4096)
            print(action, 'closed' if rest == b'' else 'got %r' % rest)
            return
        if step == 'rcpt':
            print(request(sock, sender='s%d@example.org' % n, **base))
            continue
        rcpts = int(step.split(':')[1])
        actions = []
        for i in range(rcpts):
            actions.append(request(sock, instance=instance if i else '',
                                   sender='m%d@example.org' % n, **base))
        if all(a == 'DUNNO' for a in actions):
            request(sock, protocol_state='END-OF-MESSAGE', instance=instance,
                    recipient_count=str(rcpts), sender='m%d@example.org' % n, **base)
        print(actions[-1] if all(a == 'DUNNO' for a in actions) else
              next(a for a in actions if a != 'DUNNO'))


main()
