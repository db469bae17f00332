sk_lookup: sk_lookup - section sk_lookup (211 insns)
; prologue: the lookup into the flow record
  0: (bf) r6 = r1
  1: (7a) *(u64 *)(r10 -88) = 0
  2: (7a) *(u64 *)(r10 -80) = 0
  3: (7a) *(u64 *)(r10 -72) = 0
  4: (7a) *(u64 *)(r10 -64) = 0
  5: (7a) *(u64 *)(r10 -56) = 0
  6: (7a) *(u64 *)(r10 -48) = 0
  7: (7a) *(u64 *)(r10 -40) = 0
  8: (7a) *(u64 *)(r10 -32) = 0
  9: (7a) *(u64 *)(r10 -24) = 0
 10: (7a) *(u64 *)(r10 -16) = 0
 11: (7a) *(u64 *)(r10 -8) = 0
 12: (61) r1 = *(u32 *)(r6 +8)
 13: (15) if r1 == 0x2 goto pc+18
 14: (72) *(u8 *)(r10 -32) = 6
 15: (61) r1 = *(u32 *)(r6 +20)
 16: (63) *(u32 *)(r10 -68) = r1
 17: (61) r1 = *(u32 *)(r6 +44)
 18: (63) *(u32 *)(r10 -48) = r1
 19: (61) r1 = *(u32 *)(r6 +24)
 20: (63) *(u32 *)(r10 -64) = r1
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (63) *(u32 *)(r10 -44) = r1
 23: (61) r1 = *(u32 *)(r6 +28)
 24: (63) *(u32 *)(r10 -60) = r1
 25: (61) r1 = *(u32 *)(r6 +52)
 26: (63) *(u32 *)(r10 -40) = r1
 27: (61) r1 = *(u32 *)(r6 +32)
 28: (63) *(u32 *)(r10 -56) = r1
 29: (61) r1 = *(u32 *)(r6 +56)
 30: (63) *(u32 *)(r10 -36) = r1
 31: (05) goto pc+5
 32: (72) *(u8 *)(r10 -32) = 4
 33: (61) r1 = *(u32 *)(r6 +16)
 34: (63) *(u32 *)(r10 -84) = r1
 35: (61) r1 = *(u32 *)(r6 +40)
 36: (63) *(u32 *)(r10 -76) = r1
 37: (61) r1 = *(u32 *)(r6 +12)
 38: (73) *(u8 *)(r10 -31) = r1
 39: (72) *(u8 *)(r10 -30) = 1
 40: (69) r1 = *(u16 *)(r6 +36)
 41: (dc) r1 = be16 r1
 42: (6b) *(u16 *)(r10 -28) = r1
 43: (61) r1 = *(u32 *)(r6 +60)
 44: (6b) *(u16 *)(r10 -26) = r1
; line 11: redirect 3.3.3.3:* to sock proxy
 45: (71) r1 = *(u8 *)(r10 -32)
 46: (55) if r1 != 0x4 goto pc+6
 47: (71) r1 = *(u8 *)(r10 -31)
 48: (55) if r1 != 0x6 goto pc+29
 49: (61) r1 = *(u32 *)(r10 -76)
 50: (56) if w1 != 0x3030303 goto pc+20
 51: (62) *(u32 *)(r10 -16) = 0
 52: (05) goto pc+58
; line 12: redirect [2001:db8::1]:443 to sock admin
 53: (71) r1 = *(u8 *)(r10 -31)
 54: (55) if r1 != 0x6 goto pc+32
 55: (61) r1 = *(u32 *)(r10 -48)
 56: (a4) w1 ^= -1207107296
 57: (61) r2 = *(u32 *)(r10 -44)
 58: (a4) w2 ^= 0
 59: (4c) w1 |= w2
 60: (61) r2 = *(u32 *)(r10 -40)
 61: (a4) w2 ^= 0
 62: (4c) w1 |= w2
 63: (61) r2 = *(u32 *)(r10 -36)
 64: (a4) w2 ^= 16777216
 65: (4c) w1 |= w2
 66: (56) if w1 != 0x0 goto pc+20
 67: (69) r1 = *(u16 *)(r10 -26)
 68: (55) if r1 != 0x1bb goto pc+18
 69: (62) *(u32 *)(r10 -16) = 1
 70: (05) goto pc+61
; line 13: redirect 4.4.4.0/24:9000 to sock dual
 71: (61) r1 = *(u32 *)(r10 -76)
 72: (54) w1 &= 16777215
 73: (56) if w1 != 0x40404 goto pc+13
 74: (69) r1 = *(u16 *)(r10 -26)
 75: (55) if r1 != 0x2328 goto pc+11
 76: (62) *(u32 *)(r10 -16) = 2
 77: (05) goto pc+75
; line 14: redirect 1.1.1.0/24:53 to sock dns
 78: (71) r1 = *(u8 *)(r10 -31)
 79: (55) if r1 != 0x11 goto pc+7
 80: (61) r1 = *(u32 *)(r10 -76)
 81: (54) w1 &= 16777215
 82: (56) if w1 != 0x10101 goto pc+4
 83: (69) r1 = *(u16 *)(r10 -26)
 84: (55) if r1 != 0x35 goto pc+2
 85: (62) *(u32 *)(r10 -16) = 3
 86: (05) goto pc+87
; line 15: default pass
 87: (62) *(u32 *)(r10 -16) = 4
 88: (b7) r9 = 1
 89: (61) r1 = *(u32 *)(r10 -16)
 90: (77) r1 >>= 8
 91: (63) *(u32 *)(r10 -96) = r1
 92: (18) r1 = map[counters]
 94: (bf) r2 = r10
 95: (07) r2 += -96
 96: (85) call bpf_map_lookup_elem#1
 97: (15) if r0 == 0x0 goto pc+11
 98: (61) r1 = *(u32 *)(r10 -16)
 99: (57) r1 &= 255
100: (67) r1 <<= 4
101: (0f) r0 += r1
102: (79) r1 = *(u64 *)(r0 +0)
103: (07) r1 += 1
104: (7b) *(u64 *)(r0 +0) = r1
105: (79) r1 = *(u64 *)(r0 +8)
106: (61) r2 = *(u32 *)(r10 -20)
107: (0f) r1 += r2
108: (7b) *(u64 *)(r0 +8) = r1
109: (bf) r0 = r9
110: (95) exit
; redirect to socket sock0: its slot in the socket map
111: (62) *(u32 *)(r10 -12) = 0
112: (18) r1 = map[sockets]
114: (bf) r2 = r10
115: (07) r2 += -12
116: (85) call bpf_map_lookup_elem#1
117: (15) if r0 == 0x0 goto pc+12
118: (bf) r7 = r0
119: (bf) r1 = r6
120: (bf) r2 = r7
121: (b7) r3 = 0
122: (85) call bpf_sk_assign#124
123: (bf) r8 = r0
124: (bf) r1 = r7
125: (85) call bpf_sk_release#86
126: (b7) r9 = 1
127: (15) if r8 == 0x0 goto pc-39
128: (b7) r1 = 1
129: (05) goto pc+65
130: (b7) r1 = 0
131: (05) goto pc+63
; redirect to socket sock1: its slot in the socket map
132: (62) *(u32 *)(r10 -12) = 1
133: (18) r1 = map[sockets]
135: (bf) r2 = r10
136: (07) r2 += -12
137: (85) call bpf_map_lookup_elem#1
138: (15) if r0 == 0x0 goto pc+12
139: (bf) r7 = r0
140: (bf) r1 = r6
141: (bf) r2 = r7
142: (b7) r3 = 0
143: (85) call bpf_sk_assign#124
144: (bf) r8 = r0
145: (bf) r1 = r7
146: (85) call bpf_sk_release#86
147: (b7) r9 = 1
148: (15) if r8 == 0x0 goto pc-60
149: (b7) r1 = 3
150: (05) goto pc+44
151: (b7) r1 = 2
152: (05) goto pc+42
; redirect to socket sock2: its slot in the socket map
153: (62) *(u32 *)(r10 -12) = 2
154: (18) r1 = map[sockets]
156: (bf) r2 = r10
157: (07) r2 += -12
158: (85) call bpf_map_lookup_elem#1
159: (15) if r0 == 0x0 goto pc+12
160: (bf) r7 = r0
161: (bf) r1 = r6
162: (bf) r2 = r7
163: (b7) r3 = 0
164: (85) call bpf_sk_assign#124
165: (bf) r8 = r0
166: (bf) r1 = r7
167: (85) call bpf_sk_release#86
168: (b7) r9 = 1
169: (15) if r8 == 0x0 goto pc-81
170: (b7) r1 = 5
171: (05) goto pc+23
172: (b7) r1 = 4
173: (05) goto pc+21
; redirect to socket sock3: its slot in the socket map
174: (62) *(u32 *)(r10 -12) = 3
175: (18) r1 = map[sockets]
177: (bf) r2 = r10
178: (07) r2 += -12
179: (85) call bpf_map_lookup_elem#1
180: (15) if r0 == 0x0 goto pc+12
181: (bf) r7 = r0
182: (bf) r1 = r6
183: (bf) r2 = r7
184: (b7) r3 = 0
185: (85) call bpf_sk_assign#124
186: (bf) r8 = r0
187: (bf) r1 = r7
188: (85) call bpf_sk_release#86
189: (b7) r9 = 1
190: (15) if r8 == 0x0 goto pc-102
191: (b7) r1 = 7
192: (05) goto pc+2
193: (b7) r1 = 6
194: (05) goto pc+0
; redirect dropped: count it for the socket
195: (63) *(u32 *)(r10 -12) = r1
196: (18) r1 = map[socket_drops]
198: (bf) r2 = r10
199: (07) r2 += -12
200: (85) call bpf_map_lookup_elem#1
201: (15) if r0 == 0x0 goto pc+7
202: (79) r1 = *(u64 *)(r0 +0)
203: (07) r1 += 1
204: (7b) *(u64 *)(r0 +0) = r1
205: (79) r1 = *(u64 *)(r0 +8)
206: (61) r2 = *(u32 *)(r10 -20)
207: (0f) r1 += r2
208: (7b) *(u64 *)(r0 +8) = r1
209: (b7) r9 = 0
210: (05) goto pc-122

sklreg_proxy_se: sk_lookup register /sys/fs/cgroup/unified/proxy.service section sockops (111 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/proxy.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket proxy: tcp 127.0.0.1:8080
 15: (55) if r8 != 0x1f90 goto pc+48
 16: (55) if r7 != 0x2 goto pc+3
 17: (61) r1 = *(u32 *)(r6 +28)
 18: (56) if w1 != 0x100007f goto pc+45
 19: (05) goto pc+9
 20: (55) if r7 != 0xa goto pc+43
 21: (61) r1 = *(u32 *)(r6 +48)
 22: (56) if w1 != 0x0 goto pc+41
 23: (61) r1 = *(u32 *)(r6 +52)
 24: (56) if w1 != 0x0 goto pc+39
 25: (61) r1 = *(u32 *)(r6 +56)
 26: (56) if w1 != 0xffff0000 goto pc+37
 27: (61) r1 = *(u32 *)(r6 +60)
 28: (56) if w1 != 0x100007f goto pc+35
 29: (62) *(u32 *)(r10 -12) = 0
 30: (bf) r1 = r6
 31: (18) r2 = map[sockets]
 33: (bf) r3 = r10
 34: (07) r3 += -12
 35: (b7) r4 = 0
 36: (85) call bpf_sock_map_update#53
 37: (62) *(u32 *)(r10 -20) = 0
 38: (55) if r0 != 0x0 goto pc+2
 39: (62) *(u32 *)(r10 -16) = 5
 40: (05) goto pc+1
 41: (62) *(u32 *)(r10 -16) = 6
 42: (61) r1 = *(u32 *)(r10 -16)
 43: (77) r1 >>= 8
 44: (63) *(u32 *)(r10 -96) = r1
 45: (18) r1 = map[counters]
 47: (bf) r2 = r10
 48: (07) r2 += -96
 49: (85) call bpf_map_lookup_elem#1
 50: (15) if r0 == 0x0 goto pc+11
 51: (61) r1 = *(u32 *)(r10 -16)
 52: (57) r1 &= 255
 53: (67) r1 <<= 4
 54: (0f) r0 += r1
 55: (79) r1 = *(u64 *)(r0 +0)
 56: (07) r1 += 1
 57: (7b) *(u64 *)(r0 +0) = r1
 58: (79) r1 = *(u64 *)(r0 +8)
 59: (61) r2 = *(u32 *)(r10 -20)
 60: (0f) r1 += r2
 61: (7b) *(u64 *)(r0 +8) = r1
 62: (b7) r0 = 1
 63: (95) exit
; socket admin: tcp ::1:8443
 64: (55) if r8 != 0x20fb goto pc+44
 65: (55) if r7 != 0xa goto pc+43
 66: (61) r1 = *(u32 *)(r6 +48)
 67: (56) if w1 != 0x0 goto pc+41
 68: (61) r1 = *(u32 *)(r6 +52)
 69: (56) if w1 != 0x0 goto pc+39
 70: (61) r1 = *(u32 *)(r6 +56)
 71: (56) if w1 != 0x0 goto pc+37
 72: (61) r1 = *(u32 *)(r6 +60)
 73: (56) if w1 != 0x1000000 goto pc+35
 74: (62) *(u32 *)(r10 -12) = 1
 75: (bf) r1 = r6
 76: (18) r2 = map[sockets]
 78: (bf) r3 = r10
 79: (07) r3 += -12
 80: (b7) r4 = 0
 81: (85) call bpf_sock_map_update#53
 82: (62) *(u32 *)(r10 -20) = 0
 83: (55) if r0 != 0x0 goto pc+2
 84: (62) *(u32 *)(r10 -16) = 5
 85: (05) goto pc+1
 86: (62) *(u32 *)(r10 -16) = 6
 87: (61) r1 = *(u32 *)(r10 -16)
 88: (77) r1 >>= 8
 89: (63) *(u32 *)(r10 -96) = r1
 90: (18) r1 = map[counters]
 92: (bf) r2 = r10
 93: (07) r2 += -96
 94: (85) call bpf_map_lookup_elem#1
 95: (15) if r0 == 0x0 goto pc+11
 96: (61) r1 = *(u32 *)(r10 -16)
 97: (57) r1 &= 255
 98: (67) r1 <<= 4
 99: (0f) r0 += r1
100: (79) r1 = *(u64 *)(r0 +0)
101: (07) r1 += 1
102: (7b) *(u64 *)(r0 +0) = r1
103: (79) r1 = *(u64 *)(r0 +8)
104: (61) r2 = *(u32 *)(r10 -20)
105: (0f) r1 += r2
106: (7b) *(u64 *)(r0 +8) = r1
107: (b7) r0 = 1
108: (95) exit
109: (b7) r0 = 1
110: (95) exit

sklreg_dual_ser: sk_lookup register /sys/fs/cgroup/unified/dual.service section sockops (62 insns)
; sk_lookup register: a socket of cgroup /sys/fs/cgroup/unified/dual.service listening on a declared address goes into its slot
  0: (bf) r6 = r1
  1: (61) r1 = *(u32 *)(r6 +0)
  2: (15) if r1 == 0xb goto pc+2
  3: (b7) r0 = 1
  4: (95) exit
; the install's network namespace only
  5: (bf) r1 = r6
  6: (85) call bpf_get_netns_cookie#122
  7: (56) if w0 != 0x0 goto pc+3
  8: (77) r0 >>= 32
  9: (56) if w0 != 0x0 goto pc+1
 10: (05) goto pc+2
 11: (b7) r0 = 1
 12: (95) exit
 13: (61) r7 = *(u32 *)(r6 +20)
 14: (61) r8 = *(u32 *)(r6 +68)
; socket dual: tcp :::9000
 15: (55) if r8 != 0x2328 goto pc+44
 16: (55) if r7 != 0xa goto pc+43
 17: (61) r1 = *(u32 *)(r6 +48)
 18: (56) if w1 != 0x0 goto pc+41
 19: (61) r1 = *(u32 *)(r6 +52)
 20: (56) if w1 != 0x0 goto pc+39
 21: (61) r1 = *(u32 *)(r6 +56)
 22: (56) if w1 != 0x0 goto pc+37
 23: (61) r1 = *(u32 *)(r6 +60)
 24: (56) if w1 != 0x0 goto pc+35
 25: (62) *(u32 *)(r10 -12) = 2
 26: (bf) r1 = r6
 27: (18) r2 = map[sockets]
 29: (bf) r3 = r10
 30: (07) r3 += -12
 31: (b7) r4 = 0
 32: (85) call bpf_sock_map_update#53
 33: (62) *(u32 *)(r10 -20) = 0
 34: (55) if r0 != 0x0 goto pc+2
 35: (62) *(u32 *)(r10 -16) = 7
 36: (05) goto pc+1
 37: (62) *(u32 *)(r10 -16) = 8
 38: (61) r1 = *(u32 *)(r10 -16)
 39: (77) r1 >>= 8
 40: (63) *(u32 *)(r10 -96) = r1
 41: (18) r1 = map[counters]
 43: (bf) r2 = r10
 44: (07) r2 += -96
 45: (85) call bpf_map_lookup_elem#1
 46: (15) if r0 == 0x0 goto pc+11
 47: (61) r1 = *(u32 *)(r10 -16)
 48: (57) r1 &= 255
 49: (67) r1 <<= 4
 50: (0f) r0 += r1
 51: (79) r1 = *(u64 *)(r0 +0)
 52: (07) r1 += 1
 53: (7b) *(u64 *)(r0 +0) = r1
 54: (79) r1 = *(u64 *)(r0 +8)
 55: (61) r2 = *(u32 *)(r10 -20)
 56: (0f) r1 += r2
 57: (7b) *(u64 *)(r0 +8) = r1
 58: (b7) r0 = 1
 59: (95) exit
 60: (b7) r0 = 1
 61: (95) exit

