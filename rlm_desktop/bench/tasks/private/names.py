"""The name pools of the two phrasings. Held-out draws every client, person, place and
project from its own pool, so a prompt tuned on dev names learns nothing about held-out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Names:
    business: str  # the folder owner's own business, the seller on every invoice
    owner: tuple[str, str]  # (first, last) of the folder owner
    domain: str  # the owner's e-mail domain
    clients: tuple[str, ...]
    suppliers: tuple[str, ...]  # contract counterparties that are not clients
    people: tuple[tuple[str, str], ...]  # (first, last): first names and surnames each unique
    places: tuple[str, ...]  # governing laws of the contracts
    projects: tuple[str, ...]


DEV = Names(
    business="Lumen Design Studio",
    owner=("Nadia", "Brennan"),
    domain="lumenstudio.example",
    clients=(
        "Brightwater Dental", "Hollis & Crane Architects", "Maple Street Bakery", "Northgate Logistics",
        "Pinecrest Veterinary", "Redfern Cycles", "Silverline Travel", "Tidewater Brewing", "Copperleaf Books",
        "Juniper Health Clinic", "Kestrel Outdoor Gear", "Oakridge Property Group", "Bluebell Florists",
        "Marlow Fitness",
    ),
    suppliers=(
        "Harbor Point Realty", "CloudDesk Software", "Printwell Press", "Summit IT Services",
        "Evergreen Insurance Brokers", "Parkside Office Cleaning",
    ),
    people=(
        ("Amara", "Okafor"), ("Ben", "Li"), ("Chloe", "Dubois"), ("Daniel", "Reyes"), ("Esther", "Nakamura"),
        ("Farid", "Haddad"), ("Grace", "Whitfield"), ("Hugo", "Lindqvist"), ("Isla", "MacLeod"),
        ("Jonah", "Petrov"), ("Keiko", "Sato"), ("Liam", "Oduya"),
    ),
    places=("England and Wales", "New York", "Ontario", "Ireland", "Delaware", "Scotland", "California"),
    projects=("Harbour Lights website", "Spring catalogue", "Riverside rebrand", "Clinic signage"),
)

HELD_OUT = Names(
    business="Vasquez Ortiz Consulting",
    owner=("Teodora", "Vasquez"),
    domain="vo-consulting.example",
    clients=(
        "Alpenrose Hotel", "Baltic Amber Imports", "Casa Verde Restaurants", "Danube Freight",
        "Edelweiss Pharmacy", "Fjordline Ferries", "Girasole Ceramics", "Heron Bay Marina", "Iberia Solar",
        "Jadeite Jewellers", "Kiwi Orchard Coop", "Lindenhof Winery", "Montclair Opticians", "Nordlicht Media",
    ),
    suppliers=(
        "Stadtwerk Offices", "Polaris Cloud", "Quickprint Depot", "Vega Networks", "Atlas Mutual",
        "Clearview Facility Services",
    ),
    people=(
        ("Zofia", "Kowalczyk"), ("Mateo", "Ferrari"), ("Ingrid", "Halvorsen"), ("Tomasz", "Nowicki"),
        ("Leila", "Benali"), ("Pieter", "Jansen"), ("Rosa", "Almeida"), ("Kwame", "Asante"), ("Yuki", "Tanabe"),
        ("Sven", "Eriksen"), ("Noor", "Rahman"), ("Elena", "Popescu"),
    ),
    places=("Switzerland", "Singapore", "Austria", "Norway", "Quebec", "Luxembourg", "Denmark"),
    projects=("Lakeside portal relaunch", "Autumn trade fair", "Harvest packaging redesign", "Marina booking app"),
)
