"""The pure domain: concepts every layer shares, each defined once, importing nothing from
web3, the chain or the contracts (only the standard library and `p2penergy.exceptions`).

- `orders`: sides, the order id and the packed order word (named bit layout), `OrderInput`
- `participants`: participant kinds and registry roles
- `slots`: allowed slot lengths, the epoch-at-midnight rule and the slot grid
"""
