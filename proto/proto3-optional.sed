# protoc-c 1.4.1 rejects proto3 `optional`. A proto3 optional field is a
# synthetic one-field oneof, so this rewrite is identical on the wire and keeps
# presence (as opt_<field>_case).
s/^([[:space:]]*)optional[[:space:]]+([A-Za-z0-9_.]+)[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;/\1oneof opt_\3 { \2 \3 = \4; }/
