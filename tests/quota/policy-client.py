#!/usr/bin/env python3
"""policy-client.py HOST PORT SERVER_PORT USER STEP... - talk the Postfix policy
protocol to portreeve-policyd as another mail host would, and print one
action per step. A STEP is "msg:N" (one transaction: N RCPTs, then
END-OF-MESSAGE with recipient_count N, under a fresh instance) or "rcpt"
(one RCPT check of a new transaction, no commit). Used by e2e-quota.sh for
the second daemon instance and the Sentinel test."""
import os
import socket
import sys


def request(sock, **kw):
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
    sock.sendall((''.join('%s=%s\n' % kv for kv in attrs.items()) + '\n').encode())
    buf = b''
    while not buf.endswith(b'\n\n'):
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit('connection closed by the daemon')
        buf += chunk
    return buf.decode().strip().split('=', 1)[1]


def main():
    host, port, sport, user = sys.argv[1:5]
    sock = socket.create_connection((host, int(port)), timeout=5)
    base = dict(server_port=sport, sasl_username=user,
                client_port=str(40000 + os.getpid() % 20000))
    for n, step in enumerate(sys.argv[5:]):
        instance = '%x.%x.%x.0' % (os.getpid(), n, abs(hash(step)) % 65536)
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
