//! Names, postcodes and organisations that look right to people who work with UK registries.
//! All are invented: town names are real places, but no organisation here is a real trust.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tessera_domain::{OdsCode, Organisation, OrganisationKind};

const FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "James",
    "Phillips",
    "Mason",
    "Mitchell",
    "Rose",
    "Davis",
    "Rodriguez",
    "Cox",
    "Alexander",
    "Morgan",
    "Moore",
    "Harris",
    "Hughes",
    "Edwards",
    "Hill",
    "Lee",
    "Martin",
    "Cooper",
    "Ward",
    "Turner",
    "Parker",
    "Morris",
    "King",
    "Baker",
    "Harrison",
    "Morrison",
    "Campbell",
    "Stewart",
    "Anderson",
    "Scott",
    "Murray",
    "Macdonald",
    "Reid",
    "Young",
    "Kelly",
    "Murphy",
    "O'Brien",
    "Byrne",
    "Ryan",
    "Singh",
    "Begum",
    "Ali",
    "Ahmed",
    "Hussain",
    "Shah",
    "Chen",
    "Wang",
    "Nguyen",
    "Okafor",
    "Mensah",
    "Kowalski",
    "Nowak",
    "Fernandes",
    "Price",
    "Bennett",
    "Gray",
    "Cook",
    "Bailey",
    "Bell",
    "Collins",
    "Howard",
    "Lloyd",
    "Marshall",
    "Owen",
    "Pearce",
    "Shaw",
    "Simpson",
    "Webb",
    "Ellis",
    "Fox",
    "Knight",
    "Lawrence",
    "Gibson",
    "Holmes",
    "Hunt",
    "Palmer",
    "Rees",
];
const GIVEN_F: &[&str] = &[
    "Margaret",
    "Patricia",
    "Susan",
    "Linda",
    "Janet",
    "Christine",
    "Elizabeth",
    "Mary",
    "Barbara",
    "Jean",
    "Sandra",
    "Pauline",
    "Carol",
    "Ann",
    "Valerie",
    "Gillian",
    "Julie",
    "Karen",
    "Sarah",
    "Helen",
    "Claire",
    "Emma",
    "Rachel",
    "Nicola",
    "Louise",
    "Joanne",
    "Lisa",
    "Amanda",
    "Dorothy",
    "Joan",
    "Sheila",
    "Brenda",
    "Irene",
    "Eileen",
    "Maureen",
    "Hazel",
    "Fatima",
    "Aisha",
    "Priya",
    "Sophie",
    "Charlotte",
    "Hannah",
    "Laura",
    "Rebecca",
    "Jessica",
    "Amy",
    "Chloe",
    "Olivia",
    "Grace",
    "Zoe",
];
const GIVEN_M: &[&str] = &[
    "John",
    "David",
    "Michael",
    "Peter",
    "Robert",
    "William",
    "James",
    "Paul",
    "Richard",
    "Brian",
    "Alan",
    "Stephen",
    "Anthony",
    "Keith",
    "Colin",
    "Kenneth",
    "Derek",
    "Geoffrey",
    "Trevor",
    "Graham",
    "Ian",
    "Mark",
    "Andrew",
    "Christopher",
    "Gary",
    "Martin",
    "Philip",
    "Raymond",
    "Roger",
    "Terence",
    "Barry",
    "Malcolm",
    "Mohammed",
    "Rajesh",
    "Tomasz",
    "Daniel",
    "Thomas",
    "Matthew",
    "Simon",
    "Neil",
];
const AREAS: &[&str] = &[
    "B", "BS", "CF", "CB", "DE", "DN", "EX", "G", "EH", "HU", "L", "LE", "LS", "M", "NE", "NG", "NR", "OX", "PL", "PO",
    "S", "SO", "SR", "ST", "TS", "WF", "WV", "YO", "BD", "BN", "CV", "GL", "HD", "LN", "MK", "PE", "RG",
];
const TOWNS: &[(&str, &str)] = &[
    ("Aldbury", "East of England"),
    ("Barnfield", "North West"),
    ("Bexton", "South East"),
    ("Calderbridge", "Yorkshire"),
    ("Castleford", "Yorkshire"),
    ("Chesterbrook", "North West"),
    ("Coldharbour", "London"),
    ("Dalesworth", "Yorkshire"),
    ("Eastwick", "East of England"),
    ("Elmridge", "Midlands"),
    ("Fairhaven", "South West"),
    ("Fenmoor", "East of England"),
    ("Glenholme", "North East"),
    ("Greywell", "South East"),
    ("Hartley Vale", "South East"),
    ("Heathcote", "Midlands"),
    ("Highbury Cross", "London"),
    ("Ironbridge Vale", "Midlands"),
    ("Kingsmere", "South West"),
    ("Lambourne", "South East"),
    ("Larkhill", "South West"),
    ("Lindholme", "Yorkshire"),
    ("Longmarsh", "East of England"),
    ("Marlow Heath", "South East"),
    ("Millbrook", "South West"),
    ("Moorfield", "North West"),
    ("Netherby", "North East"),
    ("Northgate", "London"),
    ("Oakhampton", "South West"),
    ("Oldcastle", "North East"),
    ("Pennington", "North West"),
    ("Queensbridge", "London"),
    ("Ravenscar", "Yorkshire"),
    ("Redmarley", "Midlands"),
    ("Riverside", "London"),
    ("Rowanbury", "Midlands"),
    ("Saltmarsh", "East of England"),
    ("Sandford", "South East"),
    ("Severnside", "South West"),
    ("Southmere", "London"),
    ("Stanbridge", "Midlands"),
    ("Stonehaven", "North East"),
    ("Thornbury", "South West"),
    ("Tynemouth Vale", "North East"),
    ("Upton Fields", "Midlands"),
    ("Wansford", "East of England"),
    ("Westbury Park", "South West"),
    ("Whitmore", "North West"),
    ("Wickham", "South East"),
    ("Woolhope", "Midlands"),
    ("Yarrowdale", "North West"),
    ("Ashdown", "South East"),
    ("Brackenfield", "Midlands"),
    ("Coppergate", "Yorkshire"),
    ("Dunmere", "South West"),
    ("Eskdale", "North West"),
    ("Foxley", "East of England"),
    ("Gorsefield", "North West"),
    ("Harrowgate", "Yorkshire"),
    ("Ivybridge Vale", "South West"),
];

/// About 150 organisations: NHS trusts (sometimes with a second site) and independent providers.
pub fn organisations(rng: &mut ChaCha8Rng) -> Vec<Organisation> {
    let mut orgs = Vec::new();
    let mut used = std::collections::HashSet::new();
    let mut code = |rng: &mut ChaCha8Rng, first: char| loop {
        let letters = b"ABCDEFGHJKLMNPQRTVWXY";
        let c = format!(
            "{first}{}{}",
            letters[rng.random_range(0..letters.len())] as char,
            letters[rng.random_range(0..letters.len())] as char
        );
        if used.insert(c.clone()) {
            return c;
        }
    };
    for (i, (town, region)) in TOWNS.iter().enumerate() {
        let trust = code(rng, 'R');
        let name = match i % 3 {
            0 => format!("{town} Hospitals NHS Foundation Trust"),
            1 => format!("{town} University Hospitals NHS Trust"),
            _ => format!("{town} and District NHS Foundation Trust"),
        };
        orgs.push(org(&trust, name, OrganisationKind::NhsTrust, region));
        // Most trusts also operate at a second, elective orthopaedic site with its own code.
        if i % 5 != 4 {
            orgs.push(org(
                &format!("{trust}{:02}", rng.random_range(1..10)),
                format!("{town} Elective Orthopaedic Centre"),
                OrganisationKind::NhsTrust,
                region,
            ));
        }
    }
    let chains = ["Meridian Healthcare", "Oakwood Private Hospitals", "Sterling Health", "Beacon Clinics"];
    for (i, (town, region)) in TOWNS.iter().enumerate() {
        if i % 3 == 2 {
            continue;
        }
        let chain = chains[i % chains.len()];
        let c = format!("N{}{}", &code(rng, 'T')[1..], rng.random_range(0..10));
        orgs.push(org(&c, format!("{chain} {town} Hospital"), OrganisationKind::IndependentSector, region));
    }
    orgs
}

fn org(code: &str, name: String, kind: OrganisationKind, region: &str) -> Organisation {
    Organisation {
        ods: OdsCode::parse(code).expect("generated codes are valid"),
        name,
        kind,
        region: region.to_owned(),
    }
}

/// A family name.
pub fn family_name(rng: &mut ChaCha8Rng) -> &'static str {
    FAMILY[rng.random_range(0..FAMILY.len())]
}

/// A given name for a woman or a man.
pub fn given_name(rng: &mut ChaCha8Rng, female: bool) -> &'static str {
    let list = if female { GIVEN_F } else { GIVEN_M };
    list[rng.random_range(0..list.len())]
}

/// A postcode of plausible shape (the inward code avoids C, I, K, M, O and V, as Royal Mail does).
pub fn postcode(rng: &mut ChaCha8Rng) -> String {
    const INWARD: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
    let area = AREAS[rng.random_range(0..AREAS.len())];
    format!(
        "{area}{} {}{}{}",
        rng.random_range(1..30),
        rng.random_range(0..10),
        INWARD[rng.random_range(0..INWARD.len())] as char,
        INWARD[rng.random_range(0..INWARD.len())] as char
    )
}
