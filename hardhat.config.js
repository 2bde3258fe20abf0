// Hardhat is only the local JSON-RPC node (EDR) here: `p2penergy node` and brownie's `hardhat`
// network start it. Contracts are compiled by p2penergy's pinned solc, never by Hardhat.
// The hardfork, block gas limit and zero base fee match the embedded eth-tester chain so that
// both report the same gas figures.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "cancun",
      blockGasLimit: 30029122,
      initialBaseFeePerGas: 0,
      // brownie expects calls and transactions to throw on revert
      throwOnTransactionFailures: true,
      throwOnCallFailures: true,
      accounts: { count: 20 },
    },
  },
};
