"""The sandbox's certificate authority and keys.

ECDSA P-256 keys are generated in microseconds, so a fresh PKI per cluster and a
fresh client certificate per test user cost nothing at start-up.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=365)
CLOCK_SKEW = dt.timedelta(hours=1)


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return private_key_pem(self.key)

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.crt`` and ``name.key`` (0600) and return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        write_secret(key_path, self.key_pem)
        return cert_path, key_path


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_secret(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


def _name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(common_name: str = "deploymentgate-sandbox-ca") -> KeyPair:
    key = new_key()
    name = _name(common_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert, key)


def issue(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> KeyPair:
    """Sign a leaf certificate; Kubernetes reads user = CN and groups = O."""
    if not (server or client):
        raise ValueError("a certificate must be for a server, a client or both")
    key = new_key()
    now = _now()
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
    usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(builder.sign(ca.key, hashes.SHA256()), key)


def load_ca(cert_path: Path, key_path: Path) -> KeyPair:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{key_path} is not an ECDSA key")
    return KeyPair(cert, key)


API_SERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class ClusterPki:
    """Paths of everything the control plane and its clients are configured with."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    service_account_key: Path  # private: signs tokens
    service_account_pub: Path  # public: verifies them
    admin_cert: Path
    admin_key: Path
    controller_manager_cert: Path
    controller_manager_key: Path
    kubelet_client_cert: Path  # what the apiserver shows the simulated nodes
    kubelet_client_key: Path
    node_cert: Path  # what the simulated nodes show the apiserver
    node_key: Path

    def ca(self) -> KeyPair:
        return load_ca(self.ca_cert, self.ca_key)


def create_cluster_pki(directory: Path, service_ip: str = "10.96.0.1") -> ClusterPki:
    ca = make_ca()
    ca_cert, ca_key = ca.write(directory, "ca")
    apiserver = issue(
        ca,
        "kube-apiserver",
        dns_names=API_SERVER_DNS_NAMES,
        ip_addresses=("127.0.0.1", "::1", service_ip),
        server=True,
    )
    apiserver_cert, apiserver_key = apiserver.write(directory, "apiserver")
    admin_cert, admin_key = issue(
        ca, "sandbox-admin", organizations=("system:masters",), client=True
    ).write(directory, "admin")
    kcm_cert, kcm_key = issue(ca, "system:kube-controller-manager", client=True).write(
        directory, "controller-manager"
    )
    kubelet_client_cert, kubelet_client_key = issue(
        ca, "kube-apiserver-kubelet-client", client=True
    ).write(directory, "apiserver-kubelet-client")
    # The simulated nodes act as kubelet *and* scheduler for their pods, so they use
    # an identity that may bind pods and patch any pod status.
    node_cert, node_key = issue(
        ca,
        "system:sandbox-node",
        organizations=("system:masters",),
        dns_names=("localhost",),
        ip_addresses=("127.0.0.1",),
        server=True,
        client=True,
    ).write(directory, "node")
    sa_key = new_key()
    sa_priv, sa_pub = directory / "sa.key", directory / "sa.pub"
    write_secret(sa_priv, private_key_pem(sa_key))
    sa_pub.write_bytes(public_key_pem(sa_key))
    return ClusterPki(
        directory=directory,
        ca_cert=ca_cert,
        ca_key=ca_key,
        apiserver_cert=apiserver_cert,
        apiserver_key=apiserver_key,
        service_account_key=sa_priv,
        service_account_pub=sa_pub,
        admin_cert=admin_cert,
        admin_key=admin_key,
        controller_manager_cert=kcm_cert,
        controller_manager_key=kcm_key,
        kubelet_client_cert=kubelet_client_cert,
        kubelet_client_key=kubelet_client_key,
        node_cert=node_cert,
        node_key=node_key,
    )


def cluster_pki_paths(directory: Path) -> ClusterPki:
    """The paths create_cluster_pki wrote, for processes that only read them."""
    return ClusterPki(
        directory=directory,
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        apiserver_cert=directory / "apiserver.crt",
        apiserver_key=directory / "apiserver.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        controller_manager_cert=directory / "controller-manager.crt",
        controller_manager_key=directory / "controller-manager.key",
        kubelet_client_cert=directory / "apiserver-kubelet-client.crt",
        kubelet_client_key=directory / "apiserver-kubelet-client.key",
        node_cert=directory / "node.crt",
        node_key=directory / "node.key",
    )
