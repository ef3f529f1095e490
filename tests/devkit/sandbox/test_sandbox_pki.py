"""The sandbox PKI: who a certificate says you are is what Kubernetes will believe."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deploymentgate_devkit.sandbox.pki import create_cluster_pki, issue, load_ca, make_ca


def _verify(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    public = issuer.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    algorithm = cert.signature_hash_algorithm
    assert algorithm is not None
    public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))


def test_user_certificate_carries_user_as_cn_and_each_group_as_o() -> None:
    ca = make_ca()
    pair = issue(ca, "alice", organizations=("devs", "qa"), client=True)
    subject = pair.cert.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    orgs = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["devs", "qa"]
    usages = pair.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    _verify(pair.cert, ca.cert)


def test_certificate_must_be_for_server_or_client() -> None:
    with pytest.raises(ValueError, match="server, a client"):
        issue(make_ca(), "nobody")


def test_cluster_pki_serves_loopback_and_in_cluster_names(tmp_path: Path) -> None:
    pki = create_cluster_pki(tmp_path / "pki")
    ca = load_ca(pki.ca_cert, pki.ca_key)
    server = x509.load_pem_x509_certificate(pki.apiserver_cert.read_bytes())
    _verify(server, ca.cert)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    for secret in (pki.ca_key, pki.admin_key, pki.service_account_key, pki.apiserver_key):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert b"PUBLIC KEY" in pki.service_account_pub.read_bytes()
