"""Real news items the cassettes assess, with the exact requests the tests send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A copy of shared/examples/ (the one real sample), kept with the test fixtures.
SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "jp-01-sample.txt"

US_JAPAN_MINERALS = (
    "President Trump and new Japanese Prime Minister Sanae Takaichi signed a framework Tuesday at Tokyo's "
    "Akasaka Palace to strengthen cooperation on critical minerals. The agreement comes just days before "
    "President Trump's meeting with Chinese President Xi Jinping. China processes more than 90% of the "
    "world's rare earth elements and recently tightened export controls on the materials. Under the deal, "
    "the U.S. and Japan will work together to secure the mining and processing of rare earths and other key "
    "minerals, including through efforts to streamline and deregulate permitting processes."
)

CHINA_RARE_EARTH_CONTROLS = (
    "China's Ministry of Commerce on Thursday announced sweeping new export controls on rare earths, "
    "extending licensing requirements to rare-earth mining, smelting and magnet-making technologies and, "
    "for the first time, to products made abroad that contain Chinese-origin rare earths worth 0.1% or more "
    "of their value. The ministry said the measures protect national security and will apply to military "
    "end users with particular strictness. The announcement comes weeks before an expected meeting between "
    "Presidents Xi Jinping and Donald Trump."
)

KOREA_CHIP_WAIVERS = (
    "The U.S. Commerce Department said it will revoke waivers that let Samsung Electronics and SK hynix ship "
    "American chipmaking equipment to their factories in China without individual licences. The companies' "
    "'validated end user' status will end in 120 days, after which each shipment of U.S. tools will need a "
    "licence. Commerce said it intends to grant licences to operate existing fabs but not to expand capacity "
    "or upgrade technology in China."
)

AUSTRALIA_US_MINERALS = (
    "Prime Minister Anthony Albanese and President Donald Trump signed a critical minerals framework at the "
    "White House on Monday. The two countries said they would each invest at least US$1 billion over six "
    "months in mining and processing projects, part of a pipeline of projects worth US$8.5 billion, and "
    "would set price floors and work on stockpiling. The U.S. Export-Import Bank issued letters of interest "
    "for more than US$2.2 billion in financing for Australian projects."
)


def request(agent: str, context: str, **extra: Any) -> dict[str, Any]:
    return {"agent": agent, "context": context, **extra}


JP01_SAMPLE_REQUEST = request("jp-01@1.0.0", US_JAPAN_MINERALS, source="CSPAN", as_of="2025-10-28")
CN01_REQUEST = request("cn-01", CHINA_RARE_EARTH_CONTROLS, source="Reuters", as_of="2025-10-10")
KR01_REQUEST = request("kr-01@stable", KOREA_CHIP_WAIVERS, source="Yonhap", as_of="2025-09-01")
AU01_REQUEST = request("au-01", AUSTRALIA_US_MINERALS, source="ABC News", as_of="2025-10-21")

# Six more items, for the fixed set a real model is measured on (tools/local_model.py).
EU_US_TRADE_FRAMEWORK = (
    "President Donald Trump and European Commission President Ursula von der Leyen agreed a trade framework "
    "at Turnberry, Scotland, on Sunday. Most EU goods entering the United States will face a 15% tariff, "
    "while the EU will buy US$750 billion of American energy over three years and European companies will "
    "invest a further US$600 billion in the United States. Steel and aluminium remain subject to 50% duties."
)

INDIA_US_TARIFFS = (
    "The United States doubled tariffs on most Indian goods to 50% on Wednesday, adding a 25% penalty over "
    "India's purchases of Russian oil to the 25% duty already in force. Textiles, gems and jewellery, shrimp "
    "and leather are among the hardest-hit exports; pharmaceuticals and smartphones are exempt. New Delhi "
    "called the measures unfair and said it would protect the interests of its farmers and small businesses."
)

US_INTEL_STAKE = (
    "The U.S. government will take a 9.9% stake in Intel, converting US$8.9 billion of CHIPS Act grants that "
    "had not yet been paid into shares, the company said on Friday. The government will be a passive "
    "shareholder without a board seat. Commerce Secretary Howard Lutnick said the stake would help restore "
    "American leadership in chip manufacturing."
)

NIPPON_US_STEEL = (
    "Nippon Steel completed its US$14.9 billion acquisition of U.S. Steel on Wednesday, after President Trump "
    "approved the deal in exchange for a 'golden share' that gives the U.S. government a say over the "
    "company's headquarters, name and plant closures. Nippon Steel pledged about US$11 billion of investment "
    "in U.S. Steel's mills by 2028."
)

KOREA_US_TRADE_DEAL = (
    "South Korea and the United States agreed a trade deal that sets a 15% U.S. tariff on Korean goods, "
    "including cars. Seoul will invest US$350 billion in American projects, of which US$150 billion is "
    "earmarked for shipbuilding cooperation, and buy US$100 billion of U.S. liquefied natural gas and other "
    "energy products over three and a half years."
)

PANAMA_PORTS_SALE = (
    "CK Hutchison agreed to sell its stakes in 43 ports in 23 countries, including the two it runs at either "
    "end of the Panama Canal, to a consortium led by BlackRock and Mediterranean Shipping Company for "
    "US$22.8 billion. China's market regulator said it would review the deal, and state media called on the "
    "Hong Kong conglomerate to consider the national interest."
)

EU01_REQUEST = request("eu-01", EU_US_TRADE_FRAMEWORK, source="Reuters", as_of="2025-07-28")
IN01_REQUEST = request("in-01", INDIA_US_TARIFFS, source="The Hindu", as_of="2025-08-27")
US01_REQUEST = request("us-01", US_INTEL_STAKE, source="AP", as_of="2025-08-22")
JP01_CANARY_REQUEST = request("jp-01@canary", NIPPON_US_STEEL, source="Nikkei", as_of="2025-06-18")
KR01_TRADE_REQUEST = request("kr-01", KOREA_US_TRADE_DEAL, source="Yonhap", as_of="2025-07-31")
CN01_PORTS_REQUEST = request("cn-01", PANAMA_PORTS_SALE, source="South China Morning Post", as_of="2025-03-28")
