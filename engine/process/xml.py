"""Hardened XML parsing for uploaded diagrams: no DTD, no entities, no network."""
from __future__ import annotations

from lxml import etree

from engine.errors import DefinitionRejected

MAX_DIAGRAM_BYTES = 5 * 1024 * 1024


def _parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not thread-safe.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(content: bytes, name: str = "diagram") -> etree._ElementTree:
    """Parse untrusted XML; refuse DOCTYPEs (and with them every entity trick) outright."""
    if len(content) > MAX_DIAGRAM_BYTES:
        raise DefinitionRejected([f"{name}: larger than {MAX_DIAGRAM_BYTES} bytes"])
    try:
        tree = etree.ElementTree(etree.fromstring(content, parser=_parser()))
    except etree.XMLSyntaxError as exc:
        raise DefinitionRejected([f"{name}: malformed XML: {exc}"]) from None
    except ValueError as exc:  # e.g. a str with an encoding declaration
        raise DefinitionRejected([f"{name}: unreadable XML: {exc}"]) from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise DefinitionRejected([f"{name}: a DOCTYPE is not allowed in a BPMN diagram"])
    return tree
