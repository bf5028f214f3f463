"""The emulator's symbol universes: thousands of coins and stock tickers, deterministic.

Real listings are long: CoinGecko's ``/coins/list`` holds ~17,000 coins, CMC's map ~10,000
active ones, Finnhub's US list ~30,000 tickers. The emulator serves lists of the same shape and
a size that exercises the same code paths: the top-coin table, ~100 real long-tail coins
(PEPE, ICP, HBAR, AAVE, ...), ~100 real long-tail stocks, a handful of tickers that are both a
coin and a stock (STX is Stacks and Seagate, DASH is Dash and DoorDash, ...), and generated
coins drawn from a seeded generator so every run, and every replica, sees the same lists.
Prices come from ``_synth.price_at``, which is seeded by the symbol, so every listed symbol
quotes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from marketsvc.symbols import TOP_COINS

# Real coins outside the service's built-in table: (ticker, name).
LONG_TAIL_COINS: tuple[tuple[str, str], ...] = (
    ("PEPE", "Pepe"), ("ICP", "Internet Computer"), ("HBAR", "Hedera"), ("AAVE", "Aave"),
    ("WIF", "dogwifhat"), ("INJ", "Injective"), ("RENDER", "Render"), ("IMX", "Immutable"),
    ("GRT", "The Graph"), ("MKR", "Maker"), ("LDO", "Lido DAO"), ("ALGO", "Algorand"),
    ("VET", "VeChain"), ("SAND", "The Sandbox"), ("MANA", "Decentraland"),
    ("EGLD", "MultiversX"), ("THETA", "Theta Network"), ("FTM", "Fantom"), ("XTZ", "Tezos"),
    ("EOS", "EOS"), ("FLOW", "Flow"), ("KAVA", "Kava"), ("NEO", "Neo"), ("CHZ", "Chiliz"),
    ("GALA", "GALA"), ("CRV", "Curve DAO Token"), ("SNX", "Synthetix"), ("ZEC", "Zcash"),
    ("ENJ", "Enjin Coin"), ("BAT", "Basic Attention Token"), ("ONE", "Harmony"),
    ("QNT", "Quant"), ("RUNE", "THORChain"), ("KAS", "Kaspa"), ("SEI", "Sei"),
    ("TIA", "Celestia"), ("JUP", "Jupiter"), ("BONK", "Bonk"), ("FLOKI", "FLOKI"),
    ("ENA", "Ethena"), ("PYTH", "Pyth Network"), ("WLD", "Worldcoin"), ("ONDO", "Ondo"),
    ("JASMY", "JasmyCoin"), ("CFX", "Conflux"), ("MINA", "Mina Protocol"), ("ROSE", "Oasis"),
    ("IOTA", "IOTA"), ("ZIL", "Zilliqa"), ("KSM", "Kusama"), ("1INCH", "1inch"),
    ("CAKE", "PancakeSwap"), ("GMX", "GMX"), ("DYDX", "dYdX"), ("BLUR", "Blur"),
    ("ORDI", "ORDI"), ("STRK", "Starknet"), ("ENS", "Ethereum Name Service"),
    ("LRC", "Loopring"), ("ANKR", "Ankr"), ("CELO", "Celo"), ("ICX", "ICON"),
    ("RVN", "Ravencoin"), ("IOTX", "IoTeX"), ("SUSHI", "SushiSwap"), ("YFI", "yearn.finance"),
    ("BAL", "Balancer"), ("ZRX", "0x Protocol"), ("FET", "Fetch.ai"), ("AR", "Arweave"),
    ("HNT", "Helium"), ("TAO", "Bittensor"), ("NOT", "Notcoin"), ("TRB", "Tellor"),
    ("API3", "API3"), ("UMA", "UMA"), ("BNT", "Bancor"), ("SKL", "SKALE"), ("STORJ", "Storj"),
    ("GLM", "Golem"), ("MASK", "Mask Network"), ("SSV", "SSV Network"), ("XDC", "XDC Network"),
    ("KCS", "KuCoin Token"), ("LEO", "UNUS SED LEO"), ("OKB", "OKB"), ("CRO", "Cronos"),
    ("DAI", "Dai"), ("WBTC", "Wrapped Bitcoin"), ("STETH", "Lido Staked Ether"),
    ("JTO", "Jito"), ("BOME", "BOOK OF MEME"), ("PENDLE", "Pendle"), ("RAY", "Raydium"),
    ("OSMO", "Osmosis"), ("AKT", "Akash Network"), ("AXL", "Axelar"), ("ZK", "ZKsync"),
)  # fmt: skip

# Real US stocks and ETFs outside the emulator's base company table: (ticker, name).
LONG_TAIL_STOCKS: tuple[tuple[str, str], ...] = (
    ("PLTR", "Palantir Technologies Inc."), ("UBER", "Uber Technologies Inc."),
    ("SHOP", "Shopify Inc."), ("ROKU", "Roku Inc."), ("SNAP", "Snap Inc."),
    ("PYPL", "PayPal Holdings Inc."),
    ("INTC", "Intel Corporation"), ("CSCO", "Cisco Systems Inc."),
    ("ORCL", "Oracle Corporation"), ("CRM", "Salesforce Inc."), ("ADBE", "Adobe Inc."),
    ("QCOM", "QUALCOMM Inc."), ("TXN", "Texas Instruments Inc."), ("AVGO", "Broadcom Inc."),
    ("COST", "Costco Wholesale Corporation"), ("WMT", "Walmart Inc."),
    ("HD", "The Home Depot Inc."), ("KO", "The Coca-Cola Company"), ("PEP", "PepsiCo Inc."),
    ("MCD", "McDonald's Corporation"), ("DIS", "The Walt Disney Company"),
    ("NKE", "NIKE Inc."), ("SBUX", "Starbucks Corporation"), ("BA", "The Boeing Company"),
    ("CAT", "Caterpillar Inc."), ("GE", "GE Aerospace"), ("F", "Ford Motor Company"),
    ("GM", "General Motors Company"), ("T", "AT&T Inc."), ("VZ", "Verizon Communications"),
    ("XOM", "Exxon Mobil Corporation"), ("CVX", "Chevron Corporation"), ("PFE", "Pfizer Inc."),
    ("MRK", "Merck & Co. Inc."), ("JNJ", "Johnson & Johnson"), ("ABBV", "AbbVie Inc."),
    ("LLY", "Eli Lilly and Company"), ("UNH", "UnitedHealth Group Inc."),
    ("BAC", "Bank of America Corporation"), ("WFC", "Wells Fargo & Company"),
    ("C", "Citigroup Inc."), ("GS", "The Goldman Sachs Group Inc."),
    ("MS", "Morgan Stanley"), ("AXP", "American Express Company"),
    ("SCHW", "The Charles Schwab Corporation"), ("BLK", "BlackRock Inc."),
    ("COIN", "Coinbase Global Inc."), ("HOOD", "Robinhood Markets Inc."),
    ("XYZ", "Block Inc."), ("RBLX", "Roblox Corporation"), ("ABNB", "Airbnb Inc."),
    ("LYFT", "Lyft Inc."), ("ZM", "Zoom Communications Inc."), ("DOCU", "DocuSign Inc."),
    ("NET", "Cloudflare Inc."), ("DDOG", "Datadog Inc."), ("SNOW", "Snowflake Inc."),
    ("CRWD", "CrowdStrike Holdings Inc."), ("ZS", "Zscaler Inc."), ("OKTA", "Okta Inc."),
    ("MDB", "MongoDB Inc."), ("TEAM", "Atlassian Corporation"),
    ("PANW", "Palo Alto Networks Inc."), ("FTNT", "Fortinet Inc."),
    ("NOW", "ServiceNow Inc."), ("INTU", "Intuit Inc."), ("AMAT", "Applied Materials Inc."),
    ("LRCX", "Lam Research Corporation"), ("KLAC", "KLA Corporation"),
    ("MRVL", "Marvell Technology Inc."), ("ARM", "Arm Holdings plc"),
    ("ASML", "ASML Holding N.V."), ("TSM", "Taiwan Semiconductor Manufacturing"),
    ("BABA", "Alibaba Group Holding Ltd."), ("PDD", "PDD Holdings Inc."),
    ("NIO", "NIO Inc."), ("RIVN", "Rivian Automotive Inc."), ("LCID", "Lucid Group Inc."),
    ("SOFI", "SoFi Technologies Inc."), ("AFRM", "Affirm Holdings Inc."),
    ("MSTR", "Strategy Inc."), ("MARA", "MARA Holdings Inc."),
    ("RIOT", "Riot Platforms Inc."), ("QQQ", "Invesco QQQ Trust"),
    ("IWM", "iShares Russell 2000 ETF"), ("DIA", "SPDR Dow Jones Industrial Average ETF"),
    ("VTI", "Vanguard Total Stock Market ETF"), ("VOO", "Vanguard S&P 500 ETF"),
    ("GLD", "SPDR Gold Shares"), ("TLT", "iShares 20+ Year Treasury Bond ETF"),
    ("ARKK", "ARK Innovation ETF"),
)  # fmt: skip

# Tickers that name a coin and a US stock at once (true of the real markets too).
AMBIGUOUS: tuple[tuple[str, str, str], ...] = (
    # (ticker, coin name, company name)
    ("STX", "Stacks", "Seagate Technology Holdings plc"),
    ("DASH", "Dash", "DoorDash Inc."),
    ("AXS", "Axie Infinity", "Axis Capital Holdings Ltd."),
    ("COMP", "Compound", "Compass Inc."),
    ("BEAM", "Beam", "Beam Therapeutics Inc."),
    ("GT", "GateToken", "The Goodyear Tire & Rubber Company"),
    # Top coins that are also listed companies: crypto-first (the built-in table) applies.
    ("LINK", "", "Interlink Electronics Inc."),
    ("ATOM", "", "Atomera Inc."),
    ("OP", "", "OceanPal Inc."),
)

# How many coins the generator adds on top of the real ones.
GENERATED_COINS = 5200
_SEED = 20261124
_ONSETS = [
    "B",
    "C",
    "D",
    "F",
    "G",
    "H",
    "J",
    "K",
    "L",
    "M",
    "N",
    "P",
    "R",
    "S",
    "T",
    "V",
    "W",
    "X",
    "Z",
    "BL",
    "BR",
    "CR",
    "DR",
    "FL",
    "GL",
    "KR",
    "PL",
    "PR",
    "SK",
    "SL",
    "ST",
    "TR",
    "ZK",
]
_VOWELS = ["A", "E", "I", "O", "U", "Y"]
_KINDS = ("Protocol", "Network", "Finance", "Chain", "Token", "DAO", "Labs", "Swap", "AI")


@dataclass(frozen=True, slots=True)
class ListedCoin:
    symbol: str
    name: str
    coingecko_id: str
    cmc_id: int
    rank: int | None  # market-cap rank; None = unranked
    on_binance: bool


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def _generated(taken: set[str], count: int) -> list[tuple[str, str]]:
    rng = random.Random(_SEED)
    # A generated name never contains a real ticker, so a search for a real coin ("wif",
    # "eth") finds the real coin and not a made-up namesake.
    real = [t for t in taken if len(t) >= 3 and t.isalpha()]
    out: list[tuple[str, str]] = []
    while len(out) < count:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 3)))
        ticker = word[: rng.randint(3, 5)]
        if ticker in taken or len(ticker) < 3 or any(t in word for t in real):
            continue
        taken.add(ticker)
        out.append((ticker, f"{word.capitalize()} {rng.choice(_KINDS)} (synthetic)"))
    return out


def _coins(stock_tickers: set[str]) -> list[ListedCoin]:
    coins: list[ListedCoin] = []
    for rank, c in enumerate(TOP_COINS.values(), start=1):
        coins.append(ListedCoin(c.symbol, c.name, c.coingecko_id, c.cmc_id, rank, True))
    real = [*LONG_TAIL_COINS, *((t, n) for t, n, _ in AMBIGUOUS if n)]
    for i, (ticker, name) in enumerate(real):
        rank = len(coins) + 1
        coins.append(ListedCoin(ticker, name, _slug(name), 40_000 + i, rank, True))
    taken = {c.symbol for c in coins} | stock_tickers
    for i, (ticker, name) in enumerate(_generated(taken, GENERATED_COINS)):
        ranked = len(coins) + 1 if i < 2000 else None
        # Binance lists a fraction of all coins, as the real exchange does (~400 of 17,000).
        coins.append(ListedCoin(ticker, name, _slug(name), 50_000 + i, ranked, i % 4 == 0))
    return coins


def stock_rows() -> list[tuple[str, str]]:
    """(ticker, company name) of the real long-tail and ambiguous stocks."""
    return [*LONG_TAIL_STOCKS, *((t, company) for t, _, company in AMBIGUOUS)]


def coins(stock_tickers: set[str]) -> list[ListedCoin]:
    """Every listed coin, top coins first; generated tickers avoid ``stock_tickers``."""
    return _coins(stock_tickers)
