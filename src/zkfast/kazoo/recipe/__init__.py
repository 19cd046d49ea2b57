"""kazoo's recipes with kazoo's node layouts (each module says which), written
on the zkfast.kazoo client. The layout table is in docs/recipes.md."""
