"""Runs acme2certifier's ms_icpr CA handler once, as its ACME server would
when an order is finalized: `CAhandler.enroll(csr)` with the handler's
configuration read from $ACME_SRV_CONFIGFILE. No directory is needed:
NTLM with a user and password, no domain controller.

Usage: python acme2certifier_icpr.py CSR_PEM_FILE
Prints one JSON object: error, cert_bundle (PEM chain), cert_raw (base64
DER), poll_identifier.
"""

import json
import logging
import sys

from acme2certifier.cahandlers.msicpr_ca_handler import CAhandler


def main():
    with open(sys.argv[1], encoding="ascii") as f:
        pem = f.read()
    # acme2certifier hands its handlers the CSR as base64 DER, no armour.
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with CAhandler(None, logging.getLogger("acme2certifier")) as handler:
        error, bundle, raw, poll = handler.enroll(body)
    print(json.dumps({"error": error, "cert_bundle": bundle, "cert_raw": raw, "poll_identifier": poll}))


if __name__ == "__main__":
    main()
