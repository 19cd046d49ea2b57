"""A throwaway test PKI: a CA, a server certificate for 127.0.0.1/localhost and a client one."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ZooKeeperNotAvailable
from .ports import HOST

__all__ = ["TlsFiles", "generate_tls_files"]


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a test PKI: one CA signing a server cert (127.0.0.1/localhost) and a client cert."""

    ca_file: str  # CA certificate; clients verify the server with it, the server trusts clients by it
    ca_key_file: str
    server_cert_file: str
    server_key_file: str
    server_keystore: str  # key + cert in one PEM, what ZooKeeper's ssl.keyStore.type=PEM reads
    client_cert_file: str
    client_key_file: str


def generate_tls_files(directory: str | os.PathLike[str]) -> TlsFiles:
    """Write a fresh CA, server and client key/cert pair (PEM, unencrypted PKCS#8 keys).

    Uses the ``cryptography`` package when importable, else the ``openssl`` command.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=str(d / "ca.pem"),
        ca_key_file=str(d / "ca.key"),
        server_cert_file=str(d / "server.pem"),
        server_key_file=str(d / "server.key"),
        server_keystore=str(d / "server-keystore.pem"),
        client_cert_file=str(d / "client.pem"),
        client_key_file=str(d / "client.key"),
    )
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _generate_tls_openssl(files, d)
    else:
        _generate_tls_cryptography(files)
    Path(files.server_keystore).write_bytes(
        Path(files.server_key_file).read_bytes() + Path(files.server_cert_file).read_bytes()
    )
    return files


def _generate_tls_cryptography(files: TlsFiles) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)

    def new_key() -> rsa.RSAPrivateKey:
        # RSA rather than EC: every JDK's PEM key loader in ZooKeeper handles it.
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: rsa.RSAPrivateKey, path: str) -> None:
        Path(path).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = new_key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("zkfast test CA"))
        .issuer_name(name("zkfast test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, san: list[x509.GeneralName] | None, eku: list[x509.ObjectIdentifier], key_path: str,
             cert_path: str) -> None:
        key = new_key()
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
        )
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        write_key(key, key_path)
        Path(cert_path).write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))

    write_key(ca_key, files.ca_key_file)
    Path(files.ca_file).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    leaf(
        "localhost",
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        files.server_key_file,
        files.server_cert_file,
    )
    leaf("zkfast-test-client", None, [ExtendedKeyUsageOID.CLIENT_AUTH], files.client_key_file,
         files.client_cert_file)


def _generate_tls_openssl(files: TlsFiles, d: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ZooKeeperNotAvailable(
            "TLS test certificates need the `cryptography` package or the `openssl` command "
            "(apt-get install -y openssl)."
        )

    def run(*args: str) -> None:
        r = subprocess.run([openssl, *args], cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.strip()}")

    def serial() -> str:
        return "0x" + os.urandom(12).hex()

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", files.ca_key_file, "-out", files.ca_file,
        "-days", "3650", "-subj", "/CN=zkfast test CA", "-set_serial", serial(),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for cn, key, cert, ext in (
        ("localhost", files.server_key_file, files.server_cert_file,
         "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
         f"subjectAltName=DNS:localhost,IP:{HOST}\n"),
        ("zkfast-test-client", files.client_key_file, files.client_cert_file,
         "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n"),
    ):
        csr, extfile = str(d / (cn + ".csr")), str(d / (cn + ".ext"))
        Path(extfile).write_text(ext)
        run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
        run("x509", "-req", "-in", csr, "-CA", files.ca_file, "-CAkey", files.ca_key_file, "-set_serial",
            serial(), "-days", "3650", "-sha256", "-extfile", extfile, "-out", cert)
        os.unlink(csr)
        os.unlink(extfile)
