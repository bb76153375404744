"""PyInstaller runtime hook: a CA bundle for https when the machine's OpenSSL paths are missing.

The bundled libssl looks for CA certificates where it was built to look (`/usr/lib/ssl` on
Debian, a framework path for python.org's macOS build). On another machine those paths may not
exist, and every https connection (an `--ollama-url https://...`) would fail to verify. Then,
and only when the user set neither `SSL_CERT_FILE` nor `SSL_CERT_DIR`, point OpenSSL at the
certifi bundle shipped inside the binary (its data file only: certifi is a build-time package).
`ssl` is already imported by trio before the first line is written, so this costs no start-up.
"""

import os
import ssl
import sys


def _use_bundled_certs() -> None:
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return
    paths = ssl.get_default_verify_paths()  # cafile/capath are None when they do not exist
    if paths.cafile or paths.capath:
        return
    bundle = os.path.join(sys._MEIPASS, "certifi", "cacert.pem")  # type: ignore[attr-defined]
    if os.path.isfile(bundle):
        os.environ["SSL_CERT_FILE"] = bundle


_use_bundled_certs()
