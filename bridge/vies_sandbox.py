"""A local VIES for tests and demos: real SOAP over HTTP, as the European Commission serves it.

`ViesSandbox` serves a WSDL with VIES's two operations (checkVat, checkVatApprox) whose service
address is the sandbox itself, so a SOAP client (zeep, through stdnum) reads the description,
builds its requests and parses the answers exactly as it does against the real service. Each
VAT number answers as configured:

    sandbox.valid("DE136695976", name="Teehaus Schmidt GmbH")   valid=true, a consultation no.
    sandbox.invalid("DE811907980")                              valid=false
    sandbox.unavailable("ATU12345675")                          SOAP fault MS_UNAVAILABLE
    sandbox.fault("ATU12345675", "INVALID_INPUT")               any other VIES fault string
    sandbox.broken("BE0403170701")                              HTTP 500, not SOAP

A number never configured is not registered: valid=false, as VIES says. `checks` logs every
question asked (operation, number, requester); `requests` (the base class's) every HTTP request,
the WSDL's too. `fail_next` injects an HTTP status or a delay, as on the platform sandboxes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from connectors.sandbox_server import Reply, Request, SandboxServer

WSDL_PATH = "/taxation_customs/vies/checkVatService.wsdl"
SERVICE_PATH = "/taxation_customs/vies/services/checkVatService"
TYPES_NS = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XML = {"Content-Type": "text/xml; charset=UTF-8"}


@dataclass(frozen=True)
class Answer:
    kind: str  # valid | invalid | fault | http500
    name: str = "---"  # VIES prints "---" where the member state gives no name or address
    address: str = "---"
    fault: str = ""


@dataclass(frozen=True)
class Check:
    """One question VIES was asked."""

    operation: str  # checkVat | checkVatApprox
    number: str  # with its country prefix: "DE136695976"
    requester: str  # "" for checkVat, or when none was given


class ViesSandbox(SandboxServer):
    methods = ("GET", "POST")

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        today: Callable[[], date] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.answers: dict[str, Answer] = {}
        self.checks: list[Check] = []
        self._today = today or (lambda: datetime.now(UTC).date())
        self._consultations = itertools.count(1)

    @property
    def wsdl_url(self) -> str:
        return self.url + WSDL_PATH

    # -- configuration ----------------------------------------------------------------------

    def valid(self, number: str, *, name: str = "---", address: str = "---") -> None:
        self.answers[_compact(number)] = Answer("valid", name, address)

    def invalid(self, number: str) -> None:
        self.answers[_compact(number)] = Answer("invalid")

    def unavailable(self, number: str) -> None:
        """The member state behind VIES does not answer for this number."""
        self.fault(number, "MS_UNAVAILABLE")

    def fault(self, number: str, code: str) -> None:
        """A SOAP fault whose faultstring is `code`, as VIES sends its errors."""
        self.answers[_compact(number)] = Answer("fault", fault=code)

    def broken(self, number: str) -> None:
        self.answers[_compact(number)] = Answer("http500")

    def asked(self) -> list[str]:
        """The numbers asked about, in order."""
        with self.lock:
            return [check.number for check in self.checks]

    # -- HTTP -------------------------------------------------------------------------------

    def fault_body(self, status: int) -> bytes:
        return f"{status} injected by the sandbox".encode()

    def route(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == WSDL_PATH:
            return 200, wsdl(self.url + SERVICE_PATH).encode(), dict(XML)
        if request.method == "POST" and request.path == SERVICE_PATH:
            return self._soap(request.body)
        return 404, b"not found", {"Content-Type": "text/plain"}

    def _soap(self, body: bytes) -> Reply:
        try:
            operation, fields = _read_request(body)
        except (ElementTree.ParseError, ValueError) as exc:
            return _fault("soap:Client", f"unreadable request: {exc}", status=500)
        number = fields.get("countryCode", "") + fields.get("vatNumber", "")
        requester = fields.get("requesterCountryCode", "") + fields.get("requesterVatNumber", "")
        with self.lock:
            self.checks.append(Check(operation, number, requester))
        answer = self.answers.get(_compact(number), Answer("invalid"))
        if answer.kind == "http500":
            return 500, b"Internal Server Error", {"Content-Type": "text/plain"}
        if answer.kind == "fault":
            return _fault("env:Server", answer.fault)
        return 200, self._response(operation, fields, answer).encode(), dict(XML)

    def _response(self, operation: str, fields: dict[str, str], answer: Answer) -> str:
        valid = answer.kind == "valid"
        name, address = (answer.name, answer.address) if valid else ("---", "---")
        parts = [
            ("countryCode", fields.get("countryCode", "")),
            ("vatNumber", fields.get("vatNumber", "")),
            ("requestDate", self._today().isoformat()),
            ("valid", "true" if valid else "false"),
        ]
        if operation == "checkVat":
            parts += [("name", name), ("address", address)]
        else:
            parts += [("traderName", name), ("traderAddress", address)]
            parts.append(("requestIdentifier", f"WAPISBOX{next(self._consultations):08d}"))
        inner = "".join(f"<ns2:{tag}>{escape(value)}</ns2:{tag}>" for tag, value in parts)
        element = f"ns2:{operation}Response"
        return _envelope(f'<{element} xmlns:ns2="{TYPES_NS}">{inner}</{element}>')


def _compact(number: str) -> str:
    return "".join(number.split()).upper()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_request(body: bytes) -> tuple[str, dict[str, str]]:
    """(operation, {field: text}) of a SOAP request for checkVat or checkVatApprox."""
    root = ElementTree.fromstring(body)
    envelope_body = next((el for el in root if _local(el.tag) == "Body"), None)
    call = next(iter(envelope_body), None) if envelope_body is not None else None
    if call is None or _local(call.tag) not in ("checkVat", "checkVatApprox"):
        raise ValueError("no checkVat or checkVatApprox in the SOAP body")
    return _local(call.tag), {_local(el.tag): (el.text or "").strip() for el in call}


def _envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_ENV}">'
        f"<env:Header/><env:Body>{body}</env:Body></env:Envelope>"
    )


def _fault(code: str, string: str, *, status: int = 500) -> Reply:
    fault = f"<faultcode>{code}</faultcode><faultstring>{escape(string)}</faultstring>"
    return status, _envelope(f"<env:Fault>{fault}</env:Fault>").encode(), dict(XML)


def wsdl(service_url: str) -> str:
    """VIES's service description (document/literal SOAP 1.1), addressed at `service_url`."""
    return _WSDL.replace("{service_url}", escape(service_url, {'"': "&quot;"}))


_WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:wsdlsoap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:impl="urn:ec.europa.eu:taxud:vies:services:checkVat"
    xmlns:tns1="urn:ec.europa.eu:taxud:vies:services:checkVat:types"
    targetNamespace="urn:ec.europa.eu:taxud:vies:services:checkVat">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:ec.europa.eu:taxud:vies:services:checkVat:types"
        elementFormDefault="qualified">
      <xsd:simpleType name="companyTypeCode">
        <xsd:restriction base="xsd:string">
          <xsd:pattern value="[A-Z]{2}\\-[1-9][0-9]?"/>
        </xsd:restriction>
      </xsd:simpleType>
      <xsd:simpleType name="matchCode">
        <xsd:restriction base="xsd:string">
          <xsd:enumeration value="1"/>
          <xsd:enumeration value="2"/>
          <xsd:enumeration value="3"/>
        </xsd:restriction>
      </xsd:simpleType>
      <xsd:element name="checkVat">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="countryCode" type="xsd:string"/>
            <xsd:element name="vatNumber" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="checkVatResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="countryCode" type="xsd:string"/>
            <xsd:element name="vatNumber" type="xsd:string"/>
            <xsd:element name="requestDate" type="xsd:date"/>
            <xsd:element name="valid" type="xsd:boolean"/>
            <xsd:element name="name" type="xsd:string" minOccurs="0" nillable="true"/>
            <xsd:element name="address" type="xsd:string" minOccurs="0" nillable="true"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="checkVatApprox">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="countryCode" type="xsd:string"/>
            <xsd:element name="vatNumber" type="xsd:string"/>
            <xsd:element name="traderName" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderCompanyType" type="tns1:companyTypeCode" minOccurs="0"/>
            <xsd:element name="traderStreet" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderPostcode" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderCity" type="xsd:string" minOccurs="0"/>
            <xsd:element name="requesterCountryCode" type="xsd:string" minOccurs="0"/>
            <xsd:element name="requesterVatNumber" type="xsd:string" minOccurs="0"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="checkVatApproxResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="countryCode" type="xsd:string"/>
            <xsd:element name="vatNumber" type="xsd:string"/>
            <xsd:element name="requestDate" type="xsd:date"/>
            <xsd:element name="valid" type="xsd:boolean"/>
            <xsd:element name="traderName" type="xsd:string" minOccurs="0" nillable="true"/>
            <xsd:element name="traderCompanyType" type="tns1:companyTypeCode" minOccurs="0"
                nillable="true"/>
            <xsd:element name="traderAddress" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderStreet" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderPostcode" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderCity" type="xsd:string" minOccurs="0"/>
            <xsd:element name="traderNameMatch" type="tns1:matchCode" minOccurs="0"/>
            <xsd:element name="traderCompanyTypeMatch" type="tns1:matchCode" minOccurs="0"/>
            <xsd:element name="traderStreetMatch" type="tns1:matchCode" minOccurs="0"/>
            <xsd:element name="traderPostcodeMatch" type="tns1:matchCode" minOccurs="0"/>
            <xsd:element name="traderCityMatch" type="tns1:matchCode" minOccurs="0"/>
            <xsd:element name="requestIdentifier" type="xsd:string"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="checkVatRequest">
    <wsdl:part name="parameters" element="tns1:checkVat"/>
  </wsdl:message>
  <wsdl:message name="checkVatResponse">
    <wsdl:part name="parameters" element="tns1:checkVatResponse"/>
  </wsdl:message>
  <wsdl:message name="checkVatApproxRequest">
    <wsdl:part name="parameters" element="tns1:checkVatApprox"/>
  </wsdl:message>
  <wsdl:message name="checkVatApproxResponse">
    <wsdl:part name="parameters" element="tns1:checkVatApproxResponse"/>
  </wsdl:message>
  <wsdl:portType name="checkVatPortType">
    <wsdl:operation name="checkVat">
      <wsdl:input name="checkVatRequest" message="impl:checkVatRequest"/>
      <wsdl:output name="checkVatResponse" message="impl:checkVatResponse"/>
    </wsdl:operation>
    <wsdl:operation name="checkVatApprox">
      <wsdl:input name="checkVatApproxRequest" message="impl:checkVatApproxRequest"/>
      <wsdl:output name="checkVatApproxResponse" message="impl:checkVatApproxResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="checkVatBinding" type="impl:checkVatPortType">
    <wsdlsoap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="checkVat">
      <wsdlsoap:operation soapAction=""/>
      <wsdl:input name="checkVatRequest"><wsdlsoap:body use="literal"/></wsdl:input>
      <wsdl:output name="checkVatResponse"><wsdlsoap:body use="literal"/></wsdl:output>
    </wsdl:operation>
    <wsdl:operation name="checkVatApprox">
      <wsdlsoap:operation soapAction=""/>
      <wsdl:input name="checkVatApproxRequest"><wsdlsoap:body use="literal"/></wsdl:input>
      <wsdl:output name="checkVatApproxResponse"><wsdlsoap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="checkVatService">
    <wsdl:port name="checkVatPort" binding="impl:checkVatBinding">
      <wsdlsoap:address location="{service_url}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
"""
